#include "common.h"

namespace libbpfjs {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  RegisterErrors(env, exports);
  RegisterObject(env, exports);
  RegisterMap(env, exports);
  RegisterProg(env, exports);
  RegisterLink(env, exports);
  RegisterTc(env, exports);
  RegisterNetns(env, exports);
  RegisterSockets(env, exports);
  return exports;
}

}  // namespace libbpfjs

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return libbpfjs::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
