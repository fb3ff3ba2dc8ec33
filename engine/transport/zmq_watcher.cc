#include "engine/transport/zmq_watcher.h"

#include <boost/asio/error.hpp>

namespace gz::transport {

ZmqWatcher::ZmqWatcher(boost::asio::io_context& io, zmq::socket_t& socket,
                       std::function<void()> on_readable)
    : socket_(socket),
      descriptor_(io, socket.get(zmq::sockopt::fd)),
      on_readable_(std::move(on_readable)) {}

ZmqWatcher::~ZmqWatcher() {
  boost::system::error_code ignored;
  descriptor_.cancel(ignored);
  // The descriptor belongs to ZeroMQ: give it back instead of closing it.
  descriptor_.release();
}

void ZmqWatcher::Arm() {
  if (armed_ || cancelled_) return;
  armed_ = true;
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& error) {
                           armed_ = false;
                           if (error == boost::asio::error::operation_aborted || cancelled_) return;
                           on_readable_();
                         });
}

void ZmqWatcher::Cancel() {
  cancelled_ = true;
  boost::system::error_code ignored;
  descriptor_.cancel(ignored);
}

bool ZmqWatcher::Readable() const { return (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0; }

}  // namespace gz::transport
