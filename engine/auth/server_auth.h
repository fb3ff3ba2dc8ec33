// ServerAuth: CURVE authentication for dispatchd's four sockets, served on the engine's thread.
//
// It owns the server's key pair, the ZAP handler (zap_handler.h) and one socket monitor per
// channel, and bridges their sockets into the server's io_context (ZmqWatcher), so every
// authentication decision happens on the one thread that owns the engine: no locks, no second
// thread to stop.
//
// Secure() makes a socket a CURVE server before it binds: its secret key, the channel's ZAP domain,
// and ZMQ_ZAP_ENFORCE_DOMAIN, so that a handshake with no ZAP handler to ask fails instead of
// letting the client in (libzmq's default then is "encrypt, but accept anyone"). The monitor
// counts the handshakes that fail before ZAP is ever asked, in handshake_failed plus
// handshake_failed.<channel>.<kind>:
//   mechanism_mismatch       a client without CURVE (a plain ZeroMQ socket)
//   cryptographic            CURVE with the wrong server key, or a corrupted handshake
//   protocol                 any other ZMTP violation (malformed commands, bad sequence, ...)
//   closed_before_handshake  the connection closed without a handshake: bytes that are not
//                            ZMTP at all (libzmq drops those without an event of its own), or a
//                            bare TCP connect
//   hung_up                  the peer closed mid-handshake; a client without CURVE often does,
//                            having seen the mismatch first (so it is counted here or under
//                            mechanism_mismatch, whichever side noticed first)
//   no_zap_handler           no ZAP handler to ask (only while dispatchd shuts down)
//   no_detail                any other failure libzmq gives no reason for
// Keys refused by the ZAP handler are counted there (auth_refused.*), not here.
//
// Admit() is the per-message check: the message's User-Id must be a role allowed on the channel
// and its key still allowed (StillAllowed), so a key revoked while connected loses its session
// within a second of the allow-list changing.
//
// Thread-safety: none; the io_context's thread owns the object and its sockets.

#ifndef ENGINE_AUTH_SERVER_AUTH_H_
#define ENGINE_AUTH_SERVER_AUTH_H_

#include <boost/asio/io_context.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // before Asio: Boost 1.74's Asio misses it in C++20 mode
#include <vector>
#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/allow_list.h"
#include "engine/auth/curve_keys.h"
#include "engine/auth/zap_handler.h"
#include "engine/transport/metrics.h"
#include "engine/transport/zmq_watcher.h"

namespace gz::auth {

// Makes `socket` a CURVE server with `secret_key` (Z85) whose handshakes ask the ZAP handler under
// `zap_domain`, with ZMQ_ZAP_ENFORCE_DOMAIN on: with no handler bound in the socket's context,
// every handshake fails. REQUIRES: before the socket binds.
absl::Status MakeCurveServer(zmq::socket_t& socket, const std::string& secret_key,
                             const std::string& zap_domain);

class ServerAuth {
 public:
  // Reads <keys_dir>/server.key_secret (and checks server.key against it when present) and
  // <keys_dir>/clients.allow, and binds the ZAP handler in `context`. The errors say which file
  // and how to make it (`dispatchctl init-keys`). `metrics` must outlive the object.
  static absl::StatusOr<std::unique_ptr<ServerAuth>> Create(zmq::context_t& context,
                                                            const std::string& keys_dir,
                                                            transport::Metrics* metrics);
  ~ServerAuth();

  // Makes `socket` a CURVE server for `channel` and starts monitoring its handshakes.
  // REQUIRES: before the socket binds; each channel once.
  absl::Status Secure(zmq::socket_t& socket, Channel channel);

  // Starts serving the ZAP handler and the monitors on `io`'s thread; Stop() ends it.
  void Start(boost::asio::io_context& io);
  void Stop();

  // The periodic look at the allow-list (the server's maintenance timer calls it).
  void Tick(absl::Time now) { zap_->MaybeReload(now); }

  // Who sent `message` (a frame received on `channel`'s socket), if that connection may still
  // speak there; otherwise nullopt, with the counter's reason ("revoked_session", "wrong_role",
  // "no_identity") in `*why`.
  std::optional<Identity> Admit(Channel channel, const zmq::message_t& message, std::string* why);

  const std::string& server_public_key() const { return server_.public_key; }
  // "CURVE on: server key <z85>; 3 client keys allowed, 1 revoked (<keys_dir>/clients.allow)".
  std::string Description() const;

 private:
  struct Monitor {
    Channel channel;
    std::unique_ptr<zmq::socket_t> socket;  // PAIR, the reading end of zmq_socket_monitor
    std::unique_ptr<transport::ZmqWatcher> watch;
    std::deque<int> handshaking;  // descriptors accepted, oldest first, with no handshake result
    int failed_not_closed = 0;    // handshake failures whose disconnect has not been seen yet
  };

  ServerAuth(zmq::context_t& context, CurveKeyPair server, std::unique_ptr<ZapHandler> zap,
             transport::Metrics* metrics);
  void ServeZap(boost::asio::io_context& io);
  void ReadMonitor(boost::asio::io_context& io, Monitor& monitor);
  void OnEvent(Monitor& monitor, uint16_t event, uint32_t value);

  zmq::context_t& context_;
  const CurveKeyPair server_;
  std::unique_ptr<ZapHandler> zap_;
  transport::Metrics* const metrics_;
  std::unique_ptr<transport::ZmqWatcher> zap_watch_;
  std::vector<std::unique_ptr<Monitor>> monitors_;
  bool stopped_ = false;
};

}  // namespace gz::auth

#endif  // ENGINE_AUTH_SERVER_AUTH_H_
