// ZmqWatcher: lets a Boost.Asio io_context wait for a ZeroMQ socket to become readable.
//
// ZeroMQ exposes readiness through ZMQ_FD, an edge-triggered descriptor: it signals when the
// socket's state *may* have changed, and once signalled it does not signal again until the socket
// has been read to empty. So the callback must drain the socket (read while ZMQ_EVENTS has
// ZMQ_POLLIN) or bound its work and call Kick(); and after sending on the socket, the owner must
// check readability again (a send can consume the edge). ZeroMQ owns the descriptor; the watcher
// never closes it.
//
// Thread-safety: none; the io_context's thread owns the watcher and the socket.

#ifndef ENGINE_TRANSPORT_ZMQ_WATCHER_H_
#define ENGINE_TRANSPORT_ZMQ_WATCHER_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <utility>  // before Asio: Boost 1.74's Asio misses it in C++20 mode
#include <zmq.hpp>

namespace gz::transport {

class ZmqWatcher {
 public:
  // `on_readable` runs on the io_context thread whenever the socket may have input.
  ZmqWatcher(boost::asio::io_context& io, zmq::socket_t& socket, std::function<void()> on_readable);
  ~ZmqWatcher();
  ZmqWatcher(const ZmqWatcher&) = delete;
  ZmqWatcher& operator=(const ZmqWatcher&) = delete;

  // Starts waiting (again). Safe to call while already waiting.
  void Arm();
  // Stops waiting; pending waits complete with operation_aborted and do not call back.
  void Cancel();

  // True if a message can be read now (ZMQ_EVENTS has ZMQ_POLLIN).
  bool Readable() const;

 private:
  zmq::socket_t& socket_;
  boost::asio::posix::stream_descriptor descriptor_;
  std::function<void()> on_readable_;
  bool armed_ = false;
  bool cancelled_ = false;
};

}  // namespace gz::transport

#endif  // ENGINE_TRANSPORT_ZMQ_WATCHER_H_
