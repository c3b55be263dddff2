// Map operations on a map fd: element ops, iteration, batch ops, creation, pinning, info.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"

namespace libbpfjs {

namespace {

Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t type = ArgUint32(info, 0, "map type");
  uint32_t keySize = ArgUint32(info, 1, "key size");
  uint32_t valueSize = ArgUint32(info, 2, "value size");
  uint32_t maxEntries = ArgUint32(info, 3, "max entries");
  std::string name;
  LIBBPF_OPTS(bpf_map_create_opts, opts);
  if (info.Length() > 4 && info[4].IsObject()) {
    Napi::Object o = info[4].As<Napi::Object>();
    if (o.Get("name").IsString()) name = o.Get("name").As<Napi::String>();
    if (o.Get("flags").IsNumber()) opts.map_flags = o.Get("flags").As<Napi::Number>().Uint32Value();
    if (o.Get("innerMapFd").IsNumber()) opts.inner_map_fd = o.Get("innerMapFd").As<Napi::Number>().Uint32Value();
    if (o.Get("mapExtra").IsNumber()) opts.map_extra = o.Get("mapExtra").As<Napi::Number>().Int64Value();
  }
  int fd = bpf_map_create(static_cast<bpf_map_type>(type), name.empty() ? nullptr : name.c_str(), keySize,
                          valueSize, maxEntries, &opts);
  if (fd < 0) ThrowErrno(env, "create map", -fd, name);
  return Napi::Number::New(env, fd);
}

Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "map fd");
  auto key = ArgBuffer(info, 1, "key");
  uint32_t valueSize = ArgUint32(info, 2, "value size");
  uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  auto value = Napi::Buffer<uint8_t>::New(env, valueSize);
  int err = bpf_map_lookup_elem_flags(fd, key.Data(), value.Data(), flags);
  if (err == -ENOENT) return env.Null();
  if (err < 0) ThrowErrno(env, "map lookup", -err);
  return value;
}

Napi::Value LookupAndDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "map fd");
  auto key = ArgBuffer(info, 1, "key");
  uint32_t valueSize = ArgUint32(info, 2, "value size");
  auto value = Napi::Buffer<uint8_t>::New(env, valueSize);
  int err = bpf_map_lookup_and_delete_elem(fd, valueSize == 0 ? nullptr : key.Data(), value.Data());
  if (err == -ENOENT) return env.Null();
  if (err < 0) ThrowErrno(env, "map lookup and delete", -err);
  return value;
}

Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "map fd");
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  int err = bpf_map_update_elem(fd, key.Data(), value.Data(), flags);
  if (err < 0) ThrowErrno(env, "map update", -err);
  return env.Undefined();
}

Napi::Value Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "map fd");
  auto key = ArgBuffer(info, 1, "key");
  int err = bpf_map_delete_elem(fd, key.Data());
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err < 0) ThrowErrno(env, "map delete", -err);
  return Napi::Boolean::New(env, true);
}

Napi::Value NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "map fd");
  const void* cur = nullptr;
  if (!ArgIsNullish(info, 1)) cur = ArgBuffer(info, 1, "key").Data();
  uint32_t keySize = ArgUint32(info, 2, "key size");
  auto next = Napi::Buffer<uint8_t>::New(env, keySize);
  int err = bpf_map_get_next_key(fd, cur, next.Data());
  if (err == -ENOENT) return env.Null();
  if (err < 0) ThrowErrno(env, "map next key", -err);
  return next;
}

Napi::Value Freeze(const Napi::CallbackInfo& info) {
  int err = bpf_map_freeze(ArgInt32(info, 0, "map fd"));
  if (err < 0) ThrowErrno(info.Env(), "map freeze", -err);
  return info.Env().Undefined();
}

// Batch operations run on the libuv pool: a million-entry batch is a long syscall and the
// agent's event loop must keep serving probes and watches meanwhile.
class BatchWorker : public Napi::AsyncWorker {
 public:
  enum class Kind { Lookup, LookupAndDelete, Update, Delete };

  BatchWorker(Napi::Env env, Kind kind) : Napi::AsyncWorker(env, "libbpfjs.batch"), kind_(kind),
      deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  int fd = -1;
  uint32_t count = 0;
  uint32_t keySize = 0, valueSize = 0;
  uint64_t elemFlags = 0;
  bool hasInBatch = false;
  std::vector<uint8_t> inBatch, outBatch;
  Napi::Reference<Napi::Buffer<uint8_t>> keysRef, valuesRef;
  uint8_t* keys = nullptr;
  uint8_t* values = nullptr;

  // Keeps the JS buffers alive while the syscall reads or fills them off the main thread.
  void Hold(Napi::Buffer<uint8_t> k, Napi::Buffer<uint8_t> v = Napi::Buffer<uint8_t>()) {
    keys = k.Data();
    keysRef = Napi::Persistent(k);
    if (!v.IsEmpty()) {
      values = v.Data();
      valuesRef = Napi::Persistent(v);
    }
  }

  void Execute() override {
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elemFlags);
    uint32_t n = count;
    int r = 0;
    switch (kind_) {
      case Kind::Lookup:
        r = bpf_map_lookup_batch(fd, hasInBatch ? inBatch.data() : nullptr, outBatch.data(), keys, values, &n, &opts);
        break;
      case Kind::LookupAndDelete:
        r = bpf_map_lookup_and_delete_batch(fd, hasInBatch ? inBatch.data() : nullptr, outBatch.data(), keys,
                                            values, &n, &opts);
        break;
      case Kind::Update:
        r = bpf_map_update_batch(fd, keys, values, &n, &opts);
        break;
      case Kind::Delete:
        r = bpf_map_delete_batch(fd, keys, &n, &opts);
        break;
    }
    err_ = r < 0 ? -r : 0;
    done_ = n;
  }

  void OnOK() override {
    Napi::Env env = Env();
    bool isLookup = kind_ == Kind::Lookup || kind_ == Kind::LookupAndDelete;
    // ENOENT from a lookup batch means the walk reached the end; the entries it did copy are valid.
    if (err_ != 0 && !(isLookup && err_ == ENOENT)) {
      Napi::Error e = MakeError(env, BatchOp(), err_);
      e.Set("processed", Napi::Number::New(env, done_));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Napi::Number::New(env, done_));
    if (isLookup) {
      out.Set("keys", keysRef.Value());
      out.Set("values", valuesRef.Value());
      out.Set("done", Napi::Boolean::New(env, err_ == ENOENT));
      out.Set("nextBatch", Napi::Buffer<uint8_t>::Copy(env, outBatch.data(), outBatch.size()));
    }
    deferred_.Resolve(out);
  }

 private:
  const char* BatchOp() const {
    switch (kind_) {
      case Kind::Lookup: return "map lookup batch";
      case Kind::LookupAndDelete: return "map lookup and delete batch";
      case Kind::Update: return "map update batch";
      default: return "map delete batch";
    }
  }
  Kind kind_;
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  uint32_t done_ = 0;
};

// lookupBatch(fd, inBatch|null, keySize, valueSize, count, andDelete) -> {count, keys, values, done, nextBatch}
Napi::Value LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool andDelete = info.Length() > 5 && info[5].ToBoolean();
  return QueueWorker(new BatchWorker(env, andDelete ? BatchWorker::Kind::LookupAndDelete : BatchWorker::Kind::Lookup), [&](BatchWorker& w) {
    w.fd = ArgInt32(info, 0, "map fd");
    w.keySize = ArgUint32(info, 2, "key size");
    w.valueSize = ArgUint32(info, 3, "value size");
    w.count = ArgUint32(info, 4, "count");
    // The batch cursor is opaque: hash maps use a bucket index, arrays a key; size it for both.
    size_t tokenSize = std::max<size_t>(w.keySize, 8);
    w.outBatch.assign(tokenSize, 0);
    if (!ArgIsNullish(info, 1)) {
      auto in = ArgBuffer(info, 1, "in batch");
      w.inBatch.assign(in.Data(), in.Data() + in.Length());
      w.inBatch.resize(tokenSize, 0);
      w.hasInBatch = true;
    }
    w.Hold(Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(w.keySize) * w.count),
           Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(w.valueSize) * w.count));
  });
}

// updateBatch(fd, keys, values, count, elemFlags) -> {count}
Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
  return QueueWorker(new BatchWorker(info.Env(), BatchWorker::Kind::Update), [&](BatchWorker& w) {
    w.fd = ArgInt32(info, 0, "map fd");
    auto keys = ArgBuffer(info, 1, "keys");
    auto values = ArgBuffer(info, 2, "values");
    w.count = ArgUint32(info, 3, "count");
    if (info.Length() > 4 && info[4].IsNumber()) w.elemFlags = info[4].As<Napi::Number>().Int64Value();
    w.Hold(keys, values);
  });
}

// deleteBatch(fd, keys, count) -> {count}
Napi::Value DeleteBatch(const Napi::CallbackInfo& info) {
  return QueueWorker(new BatchWorker(info.Env(), BatchWorker::Kind::Delete), [&](BatchWorker& w) {
    w.fd = ArgInt32(info, 0, "map fd");
    auto keys = ArgBuffer(info, 1, "keys");
    w.count = ArgUint32(info, 2, "count");
    w.Hold(keys);
  });
}

Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mi = ObjInfo<bpf_map_info>(env, ArgInt32(info, 0, "map fd"), "map info");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("type", mi.type);
  o.Set("name", std::string(mi.name, strnlen(mi.name, sizeof(mi.name))));
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("flags", mi.map_flags);
  o.Set("btfId", mi.btf_id);
  return o;
}

}  // namespace

void RegisterMap(Napi::Env env, Napi::Object exports) {
  exports.Set("mapCreate", Napi::Function::New(env, Create));
  exports.Set("mapLookup", Napi::Function::New(env, Lookup));
  exports.Set("mapLookupAndDelete", Napi::Function::New(env, LookupAndDelete));
  exports.Set("mapUpdate", Napi::Function::New(env, Update));
  exports.Set("mapDelete", Napi::Function::New(env, Delete));
  exports.Set("mapNextKey", Napi::Function::New(env, NextKey));
  exports.Set("mapFreeze", Napi::Function::New(env, Freeze));
  exports.Set("mapLookupBatch", Napi::Function::New(env, LookupBatch));
  exports.Set("mapUpdateBatch", Napi::Function::New(env, UpdateBatch));
  exports.Set("mapDeleteBatch", Napi::Function::New(env, DeleteBatch));
  exports.Set("mapInfo", Napi::Function::New(env, MapInfo));
}

}  // namespace libbpfjs
