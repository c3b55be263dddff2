// Program-level calls: BPF_PROG_TEST_RUN, legacy attach (cgroup, sockmap), XDP, info, fds.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"

namespace libbpfjs {

namespace {

class TestRunWorker : public Napi::AsyncWorker {
 public:
  explicit TestRunWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "libbpfjs.testRun"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  int fd = -1;
  std::vector<uint8_t> dataIn, dataOut, ctxIn, ctxOut;
  uint32_t repeat = 1, flags = 0;
  bool wantData = false, wantCtx = false;

  void Execute() override {
    LIBBPF_OPTS(bpf_test_run_opts, opts);
    if (!dataIn.empty()) {
      opts.data_in = dataIn.data();
      opts.data_size_in = dataIn.size();
    }
    if (wantData) {
      opts.data_out = dataOut.data();
      opts.data_size_out = dataOut.size();
    }
    if (!ctxIn.empty()) {
      opts.ctx_in = ctxIn.data();
      opts.ctx_size_in = ctxIn.size();
    }
    if (wantCtx) {
      opts.ctx_out = ctxOut.data();
      opts.ctx_size_out = ctxOut.size();
    }
    opts.repeat = repeat;
    opts.flags = flags;
    int r = bpf_prog_test_run_opts(fd, &opts);
    err_ = r < 0 ? -r : 0;
    retval_ = opts.retval;
    duration_ = opts.duration;
    dataSizeOut_ = opts.data_size_out;
    ctxSizeOut_ = opts.ctx_size_out;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      deferred_.Reject(MakeError(env, "test run", err_).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("retval", Napi::Number::New(env, retval_));
    o.Set("duration", Napi::Number::New(env, duration_));
    o.Set("dataOut", wantData ? Napi::Value(Napi::Buffer<uint8_t>::Copy(env, dataOut.data(), dataSizeOut_))
                              : env.Null());
    o.Set("ctxOut", wantCtx ? Napi::Value(Napi::Buffer<uint8_t>::Copy(env, ctxOut.data(), ctxSizeOut_))
                            : env.Null());
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  uint32_t retval_ = 0, duration_ = 0, dataSizeOut_ = 0, ctxSizeOut_ = 0;
};

std::vector<uint8_t> CopyBuffer(const Napi::Value& v) {
  if (!v.IsBuffer()) return {};
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

// testRun(fd, { data, dataOutSize, ctx, ctxOutSize, repeat, flags }) -> Promise<{retval, duration, dataOut, ctxOut}>
Napi::Value TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(new TestRunWorker(env), [&](TestRunWorker& w) {
    w.fd = ArgInt32(info, 0, "program fd");
    if (info.Length() <= 1 || !info[1].IsObject()) return;
    Napi::Object o = info[1].As<Napi::Object>();
    w.dataIn = CopyBuffer(o.Get("data"));
    w.ctxIn = CopyBuffer(o.Get("ctx"));
    if (o.Get("dataOutSize").IsNumber()) {
      w.wantData = true;
      w.dataOut.assign(o.Get("dataOutSize").As<Napi::Number>().Uint32Value(), 0);
    }
    if (o.Get("ctxOutSize").IsNumber()) {
      w.wantCtx = true;
      w.ctxOut.assign(o.Get("ctxOutSize").As<Napi::Number>().Uint32Value(), 0);
    }
    if (o.Get("repeat").IsNumber()) w.repeat = o.Get("repeat").As<Napi::Number>().Uint32Value();
    if (o.Get("flags").IsNumber()) w.flags = o.Get("flags").As<Napi::Number>().Uint32Value();
  });
}

// progAttach(progFd, targetFd, attachType, flags, replaceProgFd)
Napi::Value ProgAttach(const Napi::CallbackInfo& info) {
  int prog = ArgInt32(info, 0, "program fd");
  int target = ArgInt32(info, 1, "target fd");
  uint32_t type = ArgUint32(info, 2, "attach type");
  LIBBPF_OPTS(bpf_prog_attach_opts, opts);
  if (info.Length() > 3 && info[3].IsNumber()) opts.flags = info[3].As<Napi::Number>().Uint32Value();
  if (info.Length() > 4 && info[4].IsNumber()) opts.replace_prog_fd = info[4].As<Napi::Number>().Int32Value();
  int err = bpf_prog_attach_opts(prog, target, static_cast<bpf_attach_type>(type), &opts);
  if (err < 0) ThrowErrno(info.Env(), "program attach", -err);
  return info.Env().Undefined();
}

Napi::Value ProgDetach(const Napi::CallbackInfo& info) {
  int prog = ArgInt32(info, 0, "program fd");
  int target = ArgInt32(info, 1, "target fd");
  uint32_t type = ArgUint32(info, 2, "attach type");
  int err = bpf_prog_detach2(prog, target, static_cast<bpf_attach_type>(type));
  if (err < 0) ThrowErrno(info.Env(), "program detach", -err);
  return info.Env().Undefined();
}

// progQuery(targetFd, attachType) -> { attachFlags, progIds }
Napi::Value ProgQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int target = ArgInt32(info, 0, "target fd");
  uint32_t type = ArgUint32(info, 1, "attach type");
  uint32_t attachFlags = 0;
  std::vector<uint32_t> ids(64);
  uint32_t cnt = ids.size();
  int err = bpf_prog_query(target, static_cast<bpf_attach_type>(type), 0, &attachFlags, ids.data(), &cnt);
  if (err < 0) ThrowErrno(env, "program query", -err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("attachFlags", attachFlags);
  Napi::Array arr = Napi::Array::New(env, cnt);
  for (uint32_t i = 0; i < cnt; i++) arr.Set(i, ids[i]);
  o.Set("progIds", arr);
  return o;
}

Napi::Value ProgInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pi = ObjInfo<bpf_prog_info>(env, ArgInt32(info, 0, "program fd"), "program info");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("type", pi.type);
  o.Set("name", std::string(pi.name, strnlen(pi.name, sizeof(pi.name))));
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  o.Set("tag", std::string(tag));
  o.Set("mapIdsCount", pi.nr_map_ids);
  o.Set("runCount", static_cast<double>(pi.run_cnt));
  o.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
  o.Set("btfId", pi.btf_id);
  return o;
}

Napi::Value ProgMapIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "program fd");
  // Twice: once for the count, once with room for the ids.
  std::vector<uint32_t> ids(ObjInfo<bpf_prog_info>(env, fd, "program info").nr_map_ids);
  bpf_prog_info want{};
  want.nr_map_ids = ids.size();
  want.map_ids = reinterpret_cast<uint64_t>(ids.data());
  auto pi2 = ObjInfo<bpf_prog_info>(env, fd, "program info", want);
  Napi::Array arr = Napi::Array::New(env, ids.size());
  for (uint32_t i = 0; i < ids.size() && i < pi2.nr_map_ids; i++) arr.Set(i, ids[i]);
  return arr;
}

Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  std::string path = ArgString(info, 1, "pin path");
  int err = bpf_obj_pin(fd, path.c_str());
  if (err < 0) ThrowErrno(info.Env(), "pin", -err, path);
  return info.Env().Undefined();
}

Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "pin path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(info.Env(), "open pinned", -fd, path);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value FdById(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0, "kind");
  uint32_t id = ArgUint32(info, 1, "id");
  int fd;
  if (kind == "map") fd = bpf_map_get_fd_by_id(id);
  else if (kind == "prog") fd = bpf_prog_get_fd_by_id(id);
  else if (kind == "link") fd = bpf_link_get_fd_by_id(id);
  else throw Napi::TypeError::New(info.Env(), "fdById: kind must be map, prog or link");
  if (fd < 0) ThrowErrno(info.Env(), kind + " fd by id", -fd, std::to_string(id));
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value NextId(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0, "kind");
  uint32_t start = ArgUint32(info, 1, "start id");
  uint32_t next = 0;
  int err;
  if (kind == "map") err = bpf_map_get_next_id(start, &next);
  else if (kind == "prog") err = bpf_prog_get_next_id(start, &next);
  else if (kind == "link") err = bpf_link_get_next_id(start, &next);
  else throw Napi::TypeError::New(info.Env(), "nextId: kind must be map, prog or link");
  if (err == -ENOENT) return info.Env().Null();
  if (err < 0) ThrowErrno(info.Env(), kind + " next id", -err);
  return Napi::Number::New(info.Env(), next);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  if (close(fd) < 0) ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

// xdpAttach(ifindex, progFd, flags, oldProgFd): XDP_FLAGS_REPLACE with oldProgFd swaps atomically.
Napi::Value XdpAttach(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt32(info, 0, "ifindex");
  int prog = ArgInt32(info, 1, "program fd");
  uint32_t flags = ArgUint32(info, 2, "xdp flags");
  LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
  if (info.Length() > 3 && info[3].IsNumber()) {
    opts.old_prog_fd = info[3].As<Napi::Number>().Int32Value();
    flags |= XDP_FLAGS_REPLACE;
  }
  int err = bpf_xdp_attach(ifindex, prog, flags, &opts);
  if (err < 0) ThrowErrno(info.Env(), "xdp attach", -err, "ifindex " + std::to_string(ifindex));
  return info.Env().Undefined();
}

Napi::Value XdpDetach(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt32(info, 0, "ifindex");
  uint32_t flags = ArgUint32(info, 1, "xdp flags");
  LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
  if (info.Length() > 2 && info[2].IsNumber()) {
    opts.old_prog_fd = info[2].As<Napi::Number>().Int32Value();
    flags |= XDP_FLAGS_REPLACE;
  }
  int err = bpf_xdp_detach(ifindex, flags, &opts);
  if (err < 0) ThrowErrno(info.Env(), "xdp detach", -err, "ifindex " + std::to_string(ifindex));
  return info.Env().Undefined();
}

Napi::Value XdpQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt32(info, 0, "ifindex");
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  int err = bpf_xdp_query(ifindex, 0, &opts);
  if (err < 0) ThrowErrno(env, "xdp query", -err, "ifindex " + std::to_string(ifindex));
  Napi::Object o = Napi::Object::New(env);
  o.Set("attachMode", opts.attach_mode);
  o.Set("progId", opts.prog_id);
  o.Set("driverProgId", opts.drv_prog_id);
  o.Set("genericProgId", opts.skb_prog_id);
  return o;
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), "possible cpus", -n);
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

void RegisterProg(Napi::Env env, Napi::Object exports) {
  exports.Set("progTestRun", Napi::Function::New(env, TestRun));
  exports.Set("progAttach", Napi::Function::New(env, ProgAttach));
  exports.Set("progDetach", Napi::Function::New(env, ProgDetach));
  exports.Set("progQuery", Napi::Function::New(env, ProgQuery));
  exports.Set("progInfo", Napi::Function::New(env, ProgInfo));
  exports.Set("progMapIds", Napi::Function::New(env, ProgMapIds));
  exports.Set("objPin", Napi::Function::New(env, ObjPin));
  exports.Set("objGet", Napi::Function::New(env, ObjGet));
  exports.Set("fdById", Napi::Function::New(env, FdById));
  exports.Set("nextId", Napi::Function::New(env, NextId));
  exports.Set("close", Napi::Function::New(env, CloseFd));
  exports.Set("xdpAttach", Napi::Function::New(env, XdpAttach));
  exports.Set("xdpDetach", Napi::Function::New(env, XdpDetach));
  exports.Set("xdpQuery", Napi::Function::New(env, XdpQuery));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
}

}  // namespace libbpfjs
