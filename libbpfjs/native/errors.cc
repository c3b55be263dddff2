#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common.h"

namespace libbpfjs {

namespace {

struct AddonData {
  Napi::FunctionReference makeError;
};

thread_local std::string* tlsCapture = nullptr;

int PrintToCapture(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (tlsCapture == nullptr || level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0) tlsCapture->append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
  return 0;
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory: expected a function");
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->makeError = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

LibbpfCapture::LibbpfCapture() { tlsCapture = new std::string(); }
LibbpfCapture::~LibbpfCapture() {
  delete tlsCapture;
  tlsCapture = nullptr;
}
std::string LibbpfCapture::Take() {
  std::string out;
  if (tlsCapture != nullptr) out.swap(*tlsCapture);
  return out;
}

// Quiet by default: libbpf's stderr chatter would interleave with the agent's JSON logs.
void InstallLibbpfPrint() { libbpf_set_print(PrintToCapture); }

Napi::Error MakeError(Napi::Env env, const std::string& op, int err, const std::string& detail,
                      const std::string& log, const char* kind) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  std::string message = op + ": " + (detail.empty() ? "" : detail + ": ") + strerror(err);
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->makeError.IsEmpty()) {
    auto e = Napi::Error::New(env, message);
    e.Set("errno", Napi::Number::New(env, err));
    return e;
  }
  Napi::Value v = data->makeError.Call({Napi::String::New(env, kind), Napi::String::New(env, op),
                                        Napi::Number::New(env, err),
                                        Napi::String::New(env, name != nullptr ? name : "EUNKNOWN"),
                                        Napi::String::New(env, message), Napi::String::New(env, log)});
  return Napi::Error(env, v);
}

void ThrowErrno(Napi::Env env, const std::string& op, int err, const std::string& detail) {
  throw MakeError(env, op, err, detail);
}

bool ArgIsNullish(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() <= i || info[i].IsNull() || info[i].IsUndefined();
}

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a number");
  return info[i].As<Napi::Number>().Int32Value();
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::RangeError::New(info.Env(), std::string(what) + ": expected an unsigned 32-bit integer");
  return static_cast<uint32_t>(d);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
}

}  // namespace libbpfjs
