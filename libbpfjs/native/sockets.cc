// Transparent sockets for programs that take traffic bpf_sk_assign hands them: a socket whose
// local address is not one of the host's (the original destination of a redirected flow, or the
// client address an L7 proxy's upstream keeps) needs IP_TRANSPARENT to send from it, which Node
// cannot set. Helpers over fds; Node wraps them (net.Socket({ fd }), a server's handle).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace libbpfjs {

namespace {

void SetTransparentOn(Napi::Env env, int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0) ThrowErrno(env, "set IP_TRANSPARENT", errno);
}

// setTransparent(fd): on an existing socket (a listener: its connections inherit it).
Napi::Value SetTransparent(const Napi::CallbackInfo& info) {
  SetTransparentOn(info.Env(), ArgInt32(info, 0, "fd"));
  return info.Env().Undefined();
}

// transparentTcpSocket(address): a non-blocking IPv4 TCP socket bound to address (any port),
// transparent, ready to connect; the caller owns the fd.
Napi::Value TransparentTcpSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address = ArgString(info, 0, "address");
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) throw Napi::TypeError::New(env, "transparentTcpSocket: not an IPv4 address: " + address);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, "socket", errno);
  int one = 1;
  if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 || setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
      bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    ThrowErrno(env, "transparent bind", e, address);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void RegisterSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("setTransparent", Napi::Function::New(env, SetTransparent));
  exports.Set("transparentTcpSocket", Napi::Function::New(env, TransparentTcpSocket));
}

}  // namespace libbpfjs
