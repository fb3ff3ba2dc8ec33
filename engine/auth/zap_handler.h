// ZapHandler: dispatchd's ZAP handler (ZeroMQ RFC 27, the ZeroMQ Authentication Protocol).
//
// Every CURVE handshake on one of dispatchd's sockets ends with libzmq asking the handler on
// inproc://zeromq.zap.01 of the same context whether the client's public key may connect to that
// socket's ZAP domain (the channel name). The handler looks the key up in the allow-list and
// answers:
//   200 with User-Id "<role>:<unit or label>" (allow_list.h) and the metadata property
//       Client-Key = the key in Z85; every message from the connection then carries both
//       (zmq_msg_gets), which is how the server knows who sent it;
//   400 for a key that is not listed (unknown_key), revoked (revoked_key), or whose role may not
//       use this channel (wrong_role); 500 for a request that is not a CURVE ZAP request.
// Each answer is counted in the server's Metrics: auth_accepted.<channel>, and auth_refused plus
// auth_refused.<channel>.<why>. The first refusal of each key for each reason is also printed to
// stderr, with the allow-list line when there is one; repeats (a client retrying every 100 ms) are
// only counted.
//
// The allow-list is re-read when its file changes (mtime, size or inode), looked at no more than
// once a second: on ZAP requests and whenever the server calls MaybeReload(). A malformed file
// leaves the previous list in force; the error (with file:line) is printed and counted in
// auth_allow_list_errors. Revocation therefore needs no restart: new connections with the key are
// refused at once, and StillAllowed() lets the server refuse messages on connections the key
// opened before.
//
// Thread-safety: none. The thread that serves the socket (dispatchd's engine thread) owns it.

#ifndef ENGINE_AUTH_ZAP_HANDLER_H_
#define ENGINE_AUTH_ZAP_HANDLER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <zmq.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/allow_list.h"
#include "engine/transport/metrics.h"

namespace gz::auth {

// The metadata property (besides User-Id) that names a connection's key.
inline constexpr char kClientKeyProperty[] = "Client-Key";

class ZapHandler {
 public:
  // Reads the allow-list at `allow_list_path` and binds the ZAP endpoint in `context`. Errors: the
  // allow-list's (NotFound, InvalidArgument with file:line), or Unavailable if another handler is
  // already bound in this context. `metrics` must outlive the handler.
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Create(zmq::context_t& context,
                                                            std::string allow_list_path,
                                                            transport::Metrics* metrics);
  ~ZapHandler();

  // The REP socket the requests arrive on, for the owner to watch (ZMQ_FD).
  zmq::socket_t& socket() { return socket_; }

  // Answers up to `max` waiting requests without blocking; returns how many it answered.
  int Serve(int max);

  // Re-reads the allow-list if the file changed, unless it was looked at less than a second ago.
  void MaybeReload(absl::Time now);

  // Whether a connection that authenticated with `public_key` (Z85) as `user_id` may still speak:
  // the key is listed, not revoked, and still has that User-Id (not moved to another unit).
  bool StillAllowed(absl::string_view public_key, absl::string_view user_id) const;

  const AllowList& allow_list() const { return list_; }
  const std::string& allow_list_path() const { return path_; }

 private:
  struct FileVersion {
    ino_t inode = 0;
    int64_t mtime_ns = 0;
    off_t size = -1;
    bool operator==(const FileVersion& o) const {
      return inode == o.inode && mtime_ns == o.mtime_ns && size == o.size;
    }
  };

  ZapHandler(zmq::context_t& context, std::string path, AllowList list, FileVersion version,
             transport::Metrics* metrics);
  static FileVersion VersionOf(const std::string& path);
  void Answer(std::vector<zmq::message_t>& request);
  void Refuse(const std::string& channel, absl::string_view why, const std::string& key,
              const AllowedClient* entry, absl::string_view address);

  zmq::socket_t socket_;
  const std::string path_;
  AllowList list_;
  FileVersion version_;
  absl::Time last_look_ = absl::InfinitePast();
  transport::Metrics* const metrics_;
  // "<key> <channel> <why>" already printed; bounded so a flood of fresh keys cannot grow it.
  absl::flat_hash_set<std::string> reported_;
};

}  // namespace gz::auth

#endif  // ENGINE_AUTH_ZAP_HANDLER_H_
