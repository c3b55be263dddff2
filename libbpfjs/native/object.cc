// bpf_object lifecycle: open, inspect and tune maps/programs before load, load, close.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <vector>

#include "common.h"

namespace libbpfjs {

namespace {

struct ObjectState {
  bpf_object* obj = nullptr;
  // bpf_map__reuse_fd renames the map after the reused kernel map; callers keep the ELF name.
  std::map<std::string, bpf_map*> reusedByElfName;
  std::vector<char> kernelLog;
  bool loading = false;
  bool loaded = false;
};

void FinalizeObject(Napi::Env, ObjectState* s) {
  if (s->obj != nullptr) bpf_object__close(s->obj);
  delete s;
}

ObjectState* ArgObject(const Napi::CallbackInfo& info, bool mustBeOpen = true) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "expected a bpf object handle");
  auto* s = info[0].As<Napi::External<ObjectState>>().Data();
  if (mustBeOpen && s->obj == nullptr) ThrowErrno(info.Env(), "bpf object", EBADF, "object is closed");
  if (mustBeOpen && s->loading) ThrowErrno(info.Env(), "bpf object", EBUSY, "object is loading");
  return s;
}

bpf_map* FindMap(const Napi::CallbackInfo& info, ObjectState* s, const std::string& name) {
  if (auto it = s->reusedByElfName.find(name); it != s->reusedByElfName.end()) return it->second;
  bpf_map* m = bpf_object__find_map_by_name(s->obj, name.c_str());
  if (m == nullptr) ThrowErrno(info.Env(), "find map", ENOENT, "no map named " + name);
  return m;
}

bpf_program* FindProg(const Napi::CallbackInfo& info, ObjectState* s, const std::string& name) {
  bpf_program* p = bpf_object__find_program_by_name(s->obj, name.c_str());
  if (p == nullptr) ThrowErrno(info.Env(), "find program", ENOENT, "no program named " + name);
  return p;
}

int DupFd(Napi::Env env, int fd, const char* op, const std::string& name) {
  if (fd < 0) ThrowErrno(env, op, EBADF, name + " is not loaded");
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) ThrowErrno(env, op, errno, name);
  return dup;
}

// open(path, { kernelLogSize, pinRoot, name }) -> handle
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "open: path");
  auto* s = new ObjectState();
  std::string pinRoot;
  size_t logSize = 4 << 20;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Has("kernelLogSize") && o.Get("kernelLogSize").IsNumber())
      logSize = o.Get("kernelLogSize").As<Napi::Number>().Uint32Value();
    if (o.Has("pinRoot") && o.Get("pinRoot").IsString()) pinRoot = o.Get("pinRoot").As<Napi::String>();
  }
  s->kernelLog.assign(logSize, 0);
  LIBBPF_OPTS(bpf_object_open_opts, opts);
  // With log level 0 the kernel log is only requested when a program fails to load, so a
  // successful load pays nothing and a failure carries the verifier's explanation.
  opts.kernel_log_buf = s->kernelLog.data();
  opts.kernel_log_size = s->kernelLog.size();
  opts.kernel_log_level = 0;
  if (!pinRoot.empty()) opts.pin_root_path = pinRoot.c_str();
  LibbpfCapture capture;
  s->obj = bpf_object__open_file(path.c_str(), &opts);
  if (s->obj == nullptr) {
    int err = errno;
    std::string log = capture.Take();
    delete s;
    throw MakeError(env, "open object", err, path, log);
  }
  return Napi::External<ObjectState>::New(env, s, FinalizeObject);
}

Napi::Value Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ObjectState* s = ArgObject(info);
  Napi::Array out = Napi::Array::New(env);
  bpf_map* m;
  uint32_t i = 0;
  bpf_object__for_each_map(m, s->obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    o.Set("type", static_cast<double>(bpf_map__type(m)));
    o.Set("keySize", bpf_map__key_size(m));
    o.Set("valueSize", bpf_map__value_size(m));
    o.Set("maxEntries", bpf_map__max_entries(m));
    o.Set("flags", static_cast<double>(bpf_map__map_flags(m)));
    o.Set("internal", bpf_map__is_internal(m));
    const char* pin = bpf_map__pin_path(m);
    o.Set("pinPath", pin != nullptr ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
    o.Set("pinned", bpf_map__is_pinned(m));
    o.Set("fd", bpf_map__fd(m));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ObjectState* s = ArgObject(info);
  Napi::Array out = Napi::Array::New(env);
  bpf_program* p;
  uint32_t i = 0;
  bpf_object__for_each_program(p, s->obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    o.Set("type", static_cast<double>(bpf_program__type(p)));
    o.Set("expectedAttachType", static_cast<double>(bpf_program__expected_attach_type(p)));
    o.Set("autoload", bpf_program__autoload(p));
    o.Set("fd", bpf_program__fd(p));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value MapSetMaxEntries(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  uint32_t n = ArgUint32(info, 2, "max entries");
  int err = bpf_map__set_max_entries(FindMap(info, s, name), n);
  if (err != 0) ThrowErrno(info.Env(), "set max entries", -err, name);
  return info.Env().Undefined();
}

Napi::Value MapSetPinPath(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  int err;
  if (ArgIsNullish(info, 2)) {
    err = bpf_map__set_pin_path(FindMap(info, s, name), nullptr);
  } else {
    std::string path = ArgString(info, 2, "pin path");
    err = bpf_map__set_pin_path(FindMap(info, s, name), path.c_str());
  }
  if (err != 0) ThrowErrno(info.Env(), "set pin path", -err, name);
  return info.Env().Undefined();
}

Napi::Value MapReuseFd(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  int fd = ArgInt32(info, 2, "map fd");
  bpf_map* m = FindMap(info, s, name);
  int err = bpf_map__reuse_fd(m, fd);
  if (err != 0) ThrowErrno(info.Env(), "reuse map fd", -err, name);
  s->reusedByElfName[name] = m;
  return info.Env().Undefined();
}

Napi::Value MapSetInnerMapFd(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  int fd = ArgInt32(info, 2, "inner map fd");
  int err = bpf_map__set_inner_map_fd(FindMap(info, s, name), fd);
  if (err != 0) ThrowErrno(info.Env(), "set inner map fd", -err, name);
  return info.Env().Undefined();
}

Napi::Value MapSetAutocreate(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  int err = bpf_map__set_autocreate(FindMap(info, s, name), info[2].ToBoolean());
  if (err != 0) ThrowErrno(info.Env(), "set autocreate", -err, name);
  return info.Env().Undefined();
}

Napi::Value ProgSetAutoload(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "program name");
  int err = bpf_program__set_autoload(FindProg(info, s, name), info[2].ToBoolean());
  if (err != 0) ThrowErrno(info.Env(), "set autoload", -err, name);
  return info.Env().Undefined();
}

Napi::Value MapFd(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "map name");
  return Napi::Number::New(info.Env(), DupFd(info.Env(), bpf_map__fd(FindMap(info, s, name)), "map fd", name));
}

Napi::Value ProgFd(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  std::string name = ArgString(info, 1, "program name");
  return Napi::Number::New(info.Env(),
                           DupFd(info.Env(), bpf_program__fd(FindProg(info, s, name)), "program fd", name));
}

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, Napi::Value handle, ObjectState* s)
      : Napi::AsyncWorker(env, "libbpfjs.load"), deferred_(Napi::Promise::Deferred::New(env)), s_(s) {
    handle_ = Napi::Persistent(handle);
    s_->loading = true;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    LibbpfCapture capture;
    int r = bpf_object__load(s_->obj);
    err_ = r < 0 ? -r : 0;
    libbpfLog_ = capture.Take();
  }

  void OnOK() override {
    Napi::Env env = Env();
    s_->loading = false;
    if (err_ == 0) {
      s_->loaded = true;
      deferred_.Resolve(env.Undefined());
      return;
    }
    std::string log(s_->kernelLog.data(), strnlen(s_->kernelLog.data(), s_->kernelLog.size()));
    if (log.empty()) log = libbpfLog_;
    // The log buffer is reused by libbpf on the next load; clear it so a later error is not stale.
    std::fill(s_->kernelLog.begin(), s_->kernelLog.end(), 0);
    std::string detail = libbpfLog_.empty() ? "" : FirstLine(libbpfLog_);
    deferred_.Reject(MakeError(env, "load object", err_, detail, log, "BpfLoadError").Value());
  }

 private:
  static std::string FirstLine(const std::string& s) {
    // libbpf's summary line names the program and the failing step, e.g. "prog 'x': failed to load".
    size_t start = 0;
    for (;;) {
      size_t end = s.find('\n', start);
      std::string line = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (line.rfind("libbpf: prog", 0) == 0 || line.rfind("libbpf: map", 0) == 0) return line.substr(8);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    size_t nl = s.find('\n');
    std::string first = s.substr(0, nl);
    return first.rfind("libbpf: ", 0) == 0 ? first.substr(8) : first;
  }

  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Value> handle_;
  ObjectState* s_;
  int err_ = 0;
  std::string libbpfLog_;
};

Napi::Value Load(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info);
  if (s->loaded) ThrowErrno(info.Env(), "load object", EALREADY, "object is already loaded");
  auto* w = new LoadWorker(info.Env(), info[0], s);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  ObjectState* s = ArgObject(info, false);
  if (s->loading) ThrowErrno(info.Env(), "close object", EBUSY, "object is loading");
  if (s->obj != nullptr) bpf_object__close(s->obj);
  s->obj = nullptr;
  return info.Env().Undefined();
}

}  // namespace

void RegisterObject(Napi::Env env, Napi::Object exports) {
  exports.Set("objectOpen", Napi::Function::New(env, Open));
  exports.Set("objectMaps", Napi::Function::New(env, Maps));
  exports.Set("objectPrograms", Napi::Function::New(env, Programs));
  exports.Set("objectMapSetMaxEntries", Napi::Function::New(env, MapSetMaxEntries));
  exports.Set("objectMapSetPinPath", Napi::Function::New(env, MapSetPinPath));
  exports.Set("objectMapReuseFd", Napi::Function::New(env, MapReuseFd));
  exports.Set("objectMapSetInnerMapFd", Napi::Function::New(env, MapSetInnerMapFd));
  exports.Set("objectMapSetAutocreate", Napi::Function::New(env, MapSetAutocreate));
  exports.Set("objectProgSetAutoload", Napi::Function::New(env, ProgSetAutoload));
  exports.Set("objectMapFd", Napi::Function::New(env, MapFd));
  exports.Set("objectProgFd", Napi::Function::New(env, ProgFd));
  exports.Set("objectLoad", Napi::Function::New(env, Load));
  exports.Set("objectClose", Napi::Function::New(env, Close));
}

}  // namespace libbpfjs
