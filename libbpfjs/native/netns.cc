// Network-namespace scoping for the calling thread, for netlink-based attach in another netns.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace libbpfjs {

namespace {

// withNetns(path, fn): runs fn with this thread in the namespace at path, then switches back.
// Only the main thread moves (setns is per thread); fn must be synchronous, and libuv pool
// threads are unaffected, so async calls started inside fn run in the original namespace.
Napi::Value WithNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "netns path");
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "withNetns: expected a function");
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) ThrowErrno(env, "open own netns", errno);
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    ThrowErrno(env, "open netns", e, path);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    close(target);
    ThrowErrno(env, "enter netns", e, path);
  }
  close(target);
  Napi::Value result;
  try {
    result = info[1].As<Napi::Function>().Call({});
  } catch (...) {
    setns(self, CLONE_NEWNET);
    close(self);
    throw;
  }
  int back = setns(self, CLONE_NEWNET);
  int e = errno;
  close(self);
  // Staying in the wrong namespace would silently misdirect every later attach: fail loudly.
  if (back < 0) ThrowErrno(env, "return to own netns", e);
  return result;
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "interface name");
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) ThrowErrno(info.Env(), "interface index", errno, name);
  return Napi::Number::New(info.Env(), idx);
}

}  // namespace

void RegisterNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("withNetns", Napi::Function::New(env, WithNetns));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex));
}

}  // namespace libbpfjs
