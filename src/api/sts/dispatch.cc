// The index of the STS operations kmsd serves, and the STS codec. docs/API.md mirrors this table.
#include <unordered_map>

#include "api/query/codecs.h"
#include "api/sts/operations.h"

namespace kmsd::api {
namespace sts {
namespace {

const query::OperationEntry* Find(std::string_view action) {
  // Sessions are not stored: neither operation writes. CloudTrail records AssumeRole's answer.
  static const auto* const kOperations =
      new std::unordered_map<std::string_view, query::OperationEntry>{
          {"GetCallerIdentity", {&GetCallerIdentity, {}, false, true, false}},
          {"AssumeRole",
           {&AssumeRole,
            {"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId", "Policy", "PolicyArns",
             "Tags", "TransitiveTagKeys", "SerialNumber", "SourceIdentity"},
            false,
            true,
            true}},
      };
  auto it = kOperations->find(action);
  return it == kOperations->end() ? nullptr : &it->second;
}

}  // namespace
}  // namespace sts

std::unique_ptr<ServiceCodec> NewStsCodec(IamService* service) {
  return query::NewQueryCodec(
      {"sts", "sts.amazonaws.com", "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/",
       "InternalFailure", &sts::Find},
      service);
}

}  // namespace kmsd::api
