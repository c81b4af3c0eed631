// The local channel `kmsd unseal` gives shares through: a Unix stream socket in the data dir
// (DATA_DIR/unseal.sock, mode 0600 in a 0700 dir) on which the server takes a connection only
// from its own uid or root (SO_PEERCRED), so only someone who could read the data dir anyway can
// unseal. One request per connection, one line each way:
//   "UNSEAL <share text>\n" -> {"unsealed": bool, "given": k, "threshold": T}  or {"error": "..."}
//   "STATUS\n"              -> the same, without a share
// Requests are at most 1 KiB and must arrive within 5 seconds. The listener's thread also
// expires a partial set of shares (Unsealer::ExpireStale) once a second. Thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/shares_seal.h"

namespace kmsd {

inline constexpr char kUnsealSocketFile[] = "unseal.sock";

// Whether a peer of the socket may unseal a server running as server_uid.
bool PeerMayUnseal(uid_t peer_uid, uid_t server_uid);

class UnsealListener {
 public:
  virtual ~UnsealListener() = default;  // stops the thread and removes the socket
};

// Listens on `path` (a stale socket left by a killed server is replaced: the caller holds the
// data dir's lock). The unsealer is not owned and must outlive the listener.
absl::StatusOr<std::unique_ptr<UnsealListener>> ListenForUnseal(const std::string& path,
                                                                Unsealer* unsealer);

// What the server answered.
struct UnsealReply {
  std::string error;  // empty when the share was taken (or for STATUS)
  UnsealProgress progress;
};

// Sends one share (empty: asks the status only) to the server listening on path. Errors: the
// server is not there or did not answer in time.
absl::StatusOr<UnsealReply> SendUnsealRequest(const std::string& path, std::string_view share);

}  // namespace kmsd
