// bpf_link: create (XDP, tcx, cgroup, ...), atomic program update, detach, info.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "common.h"

namespace libbpfjs {

namespace {

// linkCreate(progFd, targetFdOrIfindex, attachType, flags) -> link fd.
// libbpf 1.1 passes unknown attach types through, which is how tcx (kernel 6.6+) is reached.
Napi::Value Create(const Napi::CallbackInfo& info) {
  int prog = ArgInt32(info, 0, "program fd");
  int target = ArgInt32(info, 1, "target");
  uint32_t type = ArgUint32(info, 2, "attach type");
  LIBBPF_OPTS(bpf_link_create_opts, opts);
  if (info.Length() > 3 && info[3].IsNumber()) opts.flags = info[3].As<Napi::Number>().Uint32Value();
  int fd = bpf_link_create(prog, target, static_cast<bpf_attach_type>(type), &opts);
  if (fd < 0) ThrowErrno(info.Env(), "link create", -fd, "attach type " + std::to_string(type));
  return Napi::Number::New(info.Env(), fd);
}

// linkUpdate(linkFd, newProgFd, oldProgFd?): with oldProgFd the kernel swaps only if it still runs that one.
Napi::Value Update(const Napi::CallbackInfo& info) {
  int link = ArgInt32(info, 0, "link fd");
  int prog = ArgInt32(info, 1, "program fd");
  LIBBPF_OPTS(bpf_link_update_opts, opts);
  if (info.Length() > 2 && info[2].IsNumber()) {
    opts.old_prog_fd = info[2].As<Napi::Number>().Int32Value();
    opts.flags = BPF_F_REPLACE;
  }
  int err = bpf_link_update(link, prog, &opts);
  if (err < 0) ThrowErrno(info.Env(), "link update", -err);
  return info.Env().Undefined();
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  int err = bpf_link_detach(ArgInt32(info, 0, "link fd"));
  if (err < 0) ThrowErrno(info.Env(), "link detach", -err);
  return info.Env().Undefined();
}

constexpr uint32_t kLinkTypeTcx = 11;  // BPF_LINK_TYPE_TCX (kernel 6.6)

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto li = ObjInfo<bpf_link_info>(env, ArgInt32(info, 0, "link fd"), "link info");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", li.id);
  o.Set("type", li.type);
  o.Set("progId", li.prog_id);
  if (li.type == BPF_LINK_TYPE_XDP) o.Set("ifindex", li.xdp.ifindex);
  if (li.type == kLinkTypeTcx) {
    // Debian's UAPI headers predate tcx; its info is { __u32 ifindex; __u32 attach_type; } at the
    // start of the union, where xdp.ifindex sits.
    const uint32_t* tcx = reinterpret_cast<const uint32_t*>(&li.xdp);
    o.Set("ifindex", tcx[0]);
    o.Set("attachType", tcx[1]);
  }
  if (li.type == BPF_LINK_TYPE_CGROUP) {
    o.Set("cgroupId", static_cast<double>(li.cgroup.cgroup_id));
    o.Set("attachType", li.cgroup.attach_type);
  }
  // A link whose target went away (netdev deleted) reads back with a zero ifindex / is defunct.
  return o;
}

}  // namespace

void RegisterLink(Napi::Env env, Napi::Object exports) {
  exports.Set("linkCreate", Napi::Function::New(env, Create));
  exports.Set("linkUpdate", Napi::Function::New(env, Update));
  exports.Set("linkDetach", Napi::Function::New(env, Detach));
  exports.Set("linkInfo", Napi::Function::New(env, Info));
}

}  // namespace libbpfjs
