// Who is calling: the identity that a verified SigV4 signature proves.
#pragma once

#include <string>

namespace kmsd {

struct Principal {
  std::string type;           // "Root" or "IAMUser"
  std::string principal_id;   // account id for root
  std::string arn;            // arn:aws:iam::ACCOUNT:root
  std::string account_id;
  std::string access_key_id;
};

// Everything the service needs to know about one call, beyond its parameters.
struct CallContext {
  Principal principal;
  std::string request_id;
  std::string source_ip;
  std::string user_agent;
};

}  // namespace kmsd
