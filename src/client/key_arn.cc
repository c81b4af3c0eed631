// Which of KMS's four ways of naming a key a --key-id is, for kms decrypt's check.
#include <algorithm>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"

namespace kmsd::client {
namespace {

// The six ':'-separated fields of an ARN, or none.
std::vector<std::string_view> ArnFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (fields.size() < 5) {
    size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) return {};
    fields.push_back(text.substr(start, colon - start));
    start = colon + 1;
  }
  fields.push_back(text.substr(start));  // the resource may itself hold ':'
  return fields;
}

}  // namespace

absl::Status RequireKeyArn(std::string_view key_id) {
  std::vector<std::string_view> arn = ArnFields(key_id);
  bool kms_arn = arn.size() == 6 && arn[0] == "arn" && !arn[1].empty() && arn[2] == "kms" &&
                 !arn[3].empty() && !arn[4].empty();
  if (kms_arn && arn[5].starts_with("key/") && arn[5].size() > 4) return absl::OkStatus();
  std::string_view what = kms_arn && arn[5].starts_with("alias/") ? "an alias ARN"
                          : key_id.starts_with("alias/")          ? "an alias name"
                          : key_id.starts_with("arn:")            ? "not a KMS key ARN"
                                                                  : "a key id";
  return Validation(StrCat(
      "decrypt --key-id wants a key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY_ID), and '", key_id,
      "' is ", what,
      ": the message records the key ARN of each encrypted data key, and --key-id is compared "
      "with it. `aws kms describe-key --key-id ",
      key_id,
      "` shows the key's ARN (KeyMetadata.Arn); or leave --key-id out to let any key "
      "that encrypted a data key of the message open it."));
}

}  // namespace kmsd::client
