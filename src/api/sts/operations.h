// The STS operations kmsd serves, one file each; dispatch.cc's table is their index.
#pragma once

#include "absl/status/status.h"
#include "api/query/query_codec.h"

namespace kmsd::api::sts {

using query::Node;
using query::OperationContext;
using query::QueryReader;

absl::Status GetCallerIdentity(OperationContext& context, QueryReader& request, Node& result);
absl::Status AssumeRole(OperationContext& context, QueryReader& request, Node& result);

}  // namespace kmsd::api::sts
