// TC clsact through libbpf's netlink helpers: hooks and direct-action filters.
#include <bpf/libbpf.h>

#include <cerrno>

#include "common.h"

namespace libbpfjs {

namespace {

bpf_tc_attach_point ArgAttachPoint(const Napi::CallbackInfo& info, size_t i) {
  std::string dir = ArgString(info, i, "tc direction");
  if (dir == "ingress") return BPF_TC_INGRESS;
  if (dir == "egress") return BPF_TC_EGRESS;
  throw Napi::TypeError::New(info.Env(), "tc direction must be ingress or egress");
}

// tcHookCreate(ifindex, direction) -> true if created, false if the clsact qdisc already existed.
Napi::Value HookCreate(const Napi::CallbackInfo& info) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ArgInt32(info, 0, "ifindex"), .attach_point = ArgAttachPoint(info, 1));
  int err = bpf_tc_hook_create(&hook);
  if (err == -EEXIST) return Napi::Boolean::New(info.Env(), false);
  if (err < 0) ThrowErrno(info.Env(), "tc hook create", -err, "ifindex " + std::to_string(hook.ifindex));
  return Napi::Boolean::New(info.Env(), true);
}

// Destroying with both directions removes the clsact qdisc and every filter on it.
Napi::Value HookDestroy(const Napi::CallbackInfo& info) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ArgInt32(info, 0, "ifindex"),
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err == -ENOENT || err == -EINVAL) return Napi::Boolean::New(info.Env(), false);
  if (err < 0) ThrowErrno(info.Env(), "tc hook destroy", -err, "ifindex " + std::to_string(hook.ifindex));
  return Napi::Boolean::New(info.Env(), true);
}

// tcAttach(ifindex, direction, progFd, handle, priority, replace) -> {handle, priority, progId}
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ArgInt32(info, 0, "ifindex"), .attach_point = ArgAttachPoint(info, 1));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = ArgInt32(info, 2, "program fd"), .flags = 0,
              .handle = ArgUint32(info, 3, "handle"), .priority = ArgUint32(info, 4, "priority"));
  if (info.Length() > 5 && info[5].ToBoolean()) opts.flags = BPF_TC_F_REPLACE;
  int err = bpf_tc_attach(&hook, &opts);
  if (err < 0) ThrowErrno(env, "tc attach", -err, "ifindex " + std::to_string(hook.ifindex));
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", opts.handle);
  o.Set("priority", opts.priority);
  o.Set("progId", opts.prog_id);
  return o;
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ArgInt32(info, 0, "ifindex"), .attach_point = ArgAttachPoint(info, 1));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ArgUint32(info, 2, "handle"), .priority = ArgUint32(info, 3, "priority"));
  int err = bpf_tc_detach(&hook, &opts);
  if (err == -ENOENT) return Napi::Boolean::New(info.Env(), false);
  if (err < 0) ThrowErrno(info.Env(), "tc detach", -err, "ifindex " + std::to_string(hook.ifindex));
  return Napi::Boolean::New(info.Env(), true);
}

// tcQuery(ifindex, direction, handle, priority) -> progId | null
Napi::Value Query(const Napi::CallbackInfo& info) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ArgInt32(info, 0, "ifindex"), .attach_point = ArgAttachPoint(info, 1));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ArgUint32(info, 2, "handle"), .priority = ArgUint32(info, 3, "priority"));
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return info.Env().Null();
  if (err < 0) ThrowErrno(info.Env(), "tc query", -err, "ifindex " + std::to_string(hook.ifindex));
  return Napi::Number::New(info.Env(), opts.prog_id);
}

}  // namespace

void RegisterTc(Napi::Env env, Napi::Object exports) {
  exports.Set("tcHookCreate", Napi::Function::New(env, HookCreate));
  exports.Set("tcHookDestroy", Napi::Function::New(env, HookDestroy));
  exports.Set("tcAttach", Napi::Function::New(env, Attach));
  exports.Set("tcDetach", Napi::Function::New(env, Detach));
  exports.Set("tcQuery", Napi::Function::New(env, Query));
}

}  // namespace libbpfjs
