// Shared helpers for the libbpfjs addon: argument coercion and typed errors.
#pragma once

#include <napi.h>

#include <bpf/bpf.h>

#include <cstdint>
#include <string>

namespace libbpfjs {

// Builds an error through the factory the JS side registered (setErrorFactory), so every
// failure reaches JS as a typed BpfError / BpfLoadError that carries errno.
Napi::Error MakeError(Napi::Env env, const std::string& op, int err, const std::string& detail = "",
                      const std::string& log = "", const char* kind = "BpfError");

// Throws MakeError(op, errno); `err` is a positive errno value.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& op, int err, const std::string& detail = "");

// libbpf messages printed while a capture is active on this thread land in the capture string.
struct LibbpfCapture {
  LibbpfCapture();
  ~LibbpfCapture();
  std::string Take();
};

void InstallLibbpfPrint();

// bpf_obj_get_info_by_fd for one kind of object (bpf_map_info, bpf_prog_info, bpf_link_info),
// throwing the typed error named `op` on failure. `info` may carry pointers the kernel fills.
template <typename Info>
Info ObjInfo(Napi::Env env, int fd, const char* op, Info info = Info{}) {
  uint32_t len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err < 0) ThrowErrno(env, op, -err);
  return info;
}

// Runs an AsyncWorker whose inputs `setup` fills from the call's arguments: a bad argument frees
// the worker and throws; otherwise the worker is queued and its promise returned.
template <typename Worker, typename Setup>
Napi::Value QueueWorker(Worker* w, Setup setup) {
  try {
    setup(*w);
  } catch (...) {
    delete w;
    throw;
  }
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* what);
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what);
bool ArgIsNullish(const Napi::CallbackInfo& info, size_t i);

void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterObject(Napi::Env env, Napi::Object exports);
void RegisterMap(Napi::Env env, Napi::Object exports);
void RegisterProg(Napi::Env env, Napi::Object exports);
void RegisterLink(Napi::Env env, Napi::Object exports);
void RegisterTc(Napi::Env env, Napi::Object exports);
void RegisterNetns(Napi::Env env, Napi::Object exports);
void RegisterSockets(Napi::Env env, Napi::Object exports);

}  // namespace libbpfjs
