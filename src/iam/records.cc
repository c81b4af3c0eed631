// The identity service's record encodings. See records.h.
#include "iam/records.h"

#include <nlohmann/json.hpp>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::iam::records {
namespace {

using nlohmann::json;

constexpr int kRecordVersion = 1;

json TagsJson(const std::vector<Tag>& tags) {
  json out = json::array();
  for (const Tag& tag : tags) out.push_back({{"k", tag.key}, {"v", tag.value}});
  return out;
}

std::vector<Tag> TagsFrom(const json& j) {
  std::vector<Tag> tags;
  for (const json& tag : j.value("tags", json::array())) {
    tags.push_back({tag.at("k").get<std::string>(), tag.at("v").get<std::string>()});
  }
  return tags;
}

// Runs decode on the parsed record; a record that is not what we wrote is an internal error (the
// keystore authenticated it, so it is ours, from a version we cannot read).
template <typename Decode>
auto DecodeJson(std::string_view bytes, std::string_view what, Decode decode)
    -> absl::StatusOr<decltype(decode(json()))> {
  try {
    json j = json::parse(bytes);
    if (j.at("v").get<int>() != kRecordVersion) {
      return Internal(StrCat("unknown ", what, " record version"));
    }
    return decode(j);
  } catch (const json::exception&) {
    return Internal(StrCat("malformed ", what, " record"));
  }
}

std::string_view KindPrefix(IamEntityKind kind) {
  return kind == IamEntityKind::kUser ? kUserPolicyPrefix : kRolePolicyPrefix;
}

}  // namespace

std::string UserRecordId(std::string_view user_name) {
  return StrCat(kUserPrefix, AsciiLower(user_name));
}

std::string RoleRecordId(std::string_view role_name) {
  return StrCat(kRolePrefix, AsciiLower(role_name));
}

std::string PolicyPrefix(IamEntityKind kind) { return std::string(KindPrefix(kind)); }

std::string PolicyRecordId(IamEntityKind kind, std::string_view entity_name,
                           std::string_view policy_name) {
  return StrCat(KindPrefix(kind), AsciiLower(entity_name), "/", AsciiLower(policy_name));
}

std::string AccessKeyRecordId(std::string_view access_key_id) {
  return StrCat(kAccessKeyPrefix, access_key_id);
}

std::string SecretRecordId(std::string_view access_key_id) {
  return StrCat(kSecretPrefix, access_key_id);
}

std::string EncodeUser(const IamUser& user) {
  return json{{"v", kRecordVersion}, {"path", user.path},           {"name", user.user_name},
              {"id", user.user_id},  {"created", user.create_date}, {"tags", TagsJson(user.tags)}}
      .dump();
}

absl::StatusOr<IamUser> DecodeUser(std::string_view bytes) {
  return DecodeJson(bytes, "user", [](const json& j) {
    IamUser user;
    user.path = j.at("path").get<std::string>();
    user.user_name = j.at("name").get<std::string>();
    user.user_id = j.at("id").get<std::string>();
    user.create_date = j.at("created").get<int64_t>();
    user.tags = TagsFrom(j);
    return user;
  });
}

std::string EncodeRole(const IamRole& role) {
  return json{{"v", kRecordVersion},
              {"path", role.path},
              {"name", role.role_name},
              {"id", role.role_id},
              {"created", role.create_date},
              {"trust", role.assume_role_policy_document},
              {"description", role.description},
              {"max_session", role.max_session_duration},
              {"tags", TagsJson(role.tags)}}
      .dump();
}

absl::StatusOr<IamRole> DecodeRole(std::string_view bytes) {
  return DecodeJson(bytes, "role", [](const json& j) {
    IamRole role;
    role.path = j.at("path").get<std::string>();
    role.role_name = j.at("name").get<std::string>();
    role.role_id = j.at("id").get<std::string>();
    role.create_date = j.at("created").get<int64_t>();
    role.assume_role_policy_document = j.at("trust").get<std::string>();
    role.description = j.at("description").get<std::string>();
    role.max_session_duration = j.at("max_session").get<int64_t>();
    role.tags = TagsFrom(j);
    return role;
  });
}

std::string EncodePolicy(const InlinePolicy& policy) {
  return json{{"v", kRecordVersion}, {"name", policy.policy_name}, {"document", policy.document}}
      .dump();
}

absl::StatusOr<InlinePolicy> DecodePolicy(std::string_view bytes) {
  return DecodeJson(bytes, "inline policy", [](const json& j) {
    InlinePolicy policy;
    policy.policy_name = j.at("name").get<std::string>();
    policy.document = j.at("document").get<std::string>();
    return policy;
  });
}

std::string EncodeAccessKey(const AccessKeyRecord& record) {
  return json{{"v", kRecordVersion},
              {"user", record.user_key},
              {"id", record.metadata.access_key_id},
              {"active", record.metadata.status == AccessKeyStatus::kActive},
              {"created", record.metadata.create_date}}
      .dump();
}

absl::StatusOr<AccessKeyRecord> DecodeAccessKey(std::string_view bytes) {
  return DecodeJson(bytes, "access key", [](const json& j) {
    AccessKeyRecord record;
    record.user_key = j.at("user").get<std::string>();
    record.metadata.access_key_id = j.at("id").get<std::string>();
    record.metadata.status =
        j.at("active").get<bool>() ? AccessKeyStatus::kActive : AccessKeyStatus::kInactive;
    record.metadata.create_date = j.at("created").get<int64_t>();
    return record;
  });
}

std::string EncodeAccount(int64_t create_date) {
  return json{{"v", kRecordVersion}, {"created", create_date}}.dump();
}

absl::StatusOr<int64_t> DecodeAccount(std::string_view bytes) {
  return DecodeJson(bytes, "account", [](const json& j) { return j.at("created").get<int64_t>(); });
}

}  // namespace kmsd::iam::records
