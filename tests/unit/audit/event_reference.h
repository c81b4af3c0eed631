// Test only: BuildEvent written plainly with nlohmann::json, the reference the differential test
// compares the fast implementation with, byte for byte. It is the implementation from before the
// streaming writer (commit 1825985), extended in step with it for IAM and STS events and the IAM
// user and role session identities: change both together.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "audit/event.h"
#include "audit/trail_format.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd::audit::reference {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Request members worth auditing. Anything else (Plaintext, CiphertextBlob, GrantTokens, Policy
// and whatever a future operation adds) is left out until someone decides it is safe.
constexpr std::array<std::string_view, 25> kRequestAllowlist = {
    "KeyId",
    "EncryptionContext",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
    "KeySpec",
    "NumberOfBytes",
    "EncryptionAlgorithm",
    "SourceEncryptionAlgorithm",
    "DestinationEncryptionAlgorithm",
    "SourceKeyId",
    "DestinationKeyId",
    "AliasName",
    "TargetKeyId",
    "Description",
    "KeyUsage",
    "CustomerMasterKeySpec",
    "Origin",
    "MultiRegion",
    "Tags",
    "TagKeys",
    "Limit",
    "Marker",
    "PendingWindowInDays",
    "RotationPeriodInDays",
    "IncludeKeyMaterial",
};

// Answer members recorded as responseElements (never for cryptographic operations).
constexpr std::array<std::string_view, 11> kResponseAllowlist = {
    "KeyId",
    "KeyMetadata",
    "ReplicaKeyMetadata",
    "GrantId",
    "DeletionDate",
    "KeyState",
    "PendingWindowInDays",
    "KeyRotationEnabled",
    "RotationPeriodInDays",
    "NextRotationDate",
    "SourceKeyId",
};

// Members of an answer that name the key(s) a request touched.
constexpr std::array<std::string_view, 3> kResponseKeyMembers = {"KeyId", "KeyMetadata",
                                                                 "SourceKeyId"};
// Members of a request that may name a key (when they are a key id or key ARN, not an alias).
constexpr std::array<std::string_view, 4> kRequestKeyMembers = {"KeyId", "SourceKeyId",
                                                                "DestinationKeyId", "TargetKeyId"};

// Maps whose keys are the caller's data: recorded verbatim, not renamed.
constexpr std::array<std::string_view, 3> kVerbatimMaps = {
    "EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext"};

// Member names never recorded from a codec's JSON (IAM, STS), at any depth, in any letter case.
constexpr std::array<std::string_view, 10> kSecretNames = {
    "secretaccesskey", "sessiontoken", "securitytoken",    "password",      "oldpassword",
    "newpassword",     "privatekey",   "webidentitytoken", "samlassertion", "plaintext",
};

// Operations whose answers carry key material, ciphertext or random bytes: AWS records null.
constexpr std::array<std::string_view, 13> kCryptographicOperations = {
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view name) {
  for (std::string_view item : list) {
    if (item == name) return true;
  }
  return false;
}

// Parses a JSON object keeping only the top-level members in the allowlist. The parser callback
// drops the others as they are read, so secrets never land in the parsed tree.
template <size_t N>
json ParseAllowlisted(std::string_view text, const std::array<std::string_view, N>& allowlist) {
  if (text.empty()) return json();
  json parsed = json::parse(
      text.begin(), text.end(),
      [&allowlist](int depth, json::parse_event_t event, json& value) {
        if (event == json::parse_event_t::key && depth == 1) {
          return value.is_string() && Contains(allowlist, value.get_ref<const std::string&>());
        }
        return true;
      },
      /*allow_exceptions=*/false);
  if (!parsed.is_object()) return json();
  return parsed;
}

// Parses a JSON object keeping every member except those whose name, lower-cased, is in
// denylist, at any depth: the callback drops them as they are read.
template <size_t N>
json ParseWithout(std::string_view text, const std::array<std::string_view, N>& denylist) {
  json parsed = json::parse(
      text.begin(), text.end(),
      [&denylist](int /*depth*/, json::parse_event_t event, json& value) {
        if (event == json::parse_event_t::key) {
          return !(value.is_string() &&
                   Contains(denylist, AsciiLower(value.get_ref<const std::string&>())));
        }
        return true;
      },
      /*allow_exceptions=*/false);
  if (!parsed.is_object()) return json();
  return parsed;
}

// CloudTrail writes member names in lower camel case (KeyId -> keyId), recursively, except inside
// maps of the caller's data.
ordered_json CloudTrailStyle(const json& value, bool verbatim_keys = false) {
  if (value.is_object()) {
    ordered_json out = ordered_json::object();
    for (const auto& [name, member] : value.items()) {
      std::string renamed = name;
      if (!verbatim_keys && !renamed.empty() && renamed[0] >= 'A' && renamed[0] <= 'Z') {
        renamed[0] = static_cast<char>(renamed[0] - 'A' + 'a');
      }
      out[renamed] = CloudTrailStyle(member, Contains(kVerbatimMaps, name));
    }
    return out;
  }
  if (value.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& element : value) out.push_back(CloudTrailStyle(element));
    return out;
  }
  return ordered_json(value);
}

bool IsKeyArn(std::string_view text) {
  return text.starts_with("arn:") && text.find(":key/") != std::string_view::npos;
}

// arn:aws:kms:REGION:ACCOUNT:key/ID -> ACCOUNT.
std::string ArnAccount(std::string_view arn) {
  size_t field = 0;
  size_t start = 0;
  for (size_t i = 0; i < arn.size(); ++i) {
    if (arn[i] != ':') continue;
    if (++field == 4) start = i + 1;
    if (field == 5) return std::string(arn.substr(start, i - start));
  }
  return "";
}

void AddResource(std::vector<std::string>& arns, std::string arn) {
  for (const std::string& known : arns) {
    if (known == arn) return;
  }
  arns.push_back(std::move(arn));
}

std::vector<std::string> TouchedKeys(const json& request, const json& response,
                                     const EventSettings& settings) {
  std::vector<std::string> arns;
  if (response.is_object()) {
    for (std::string_view member : kResponseKeyMembers) {
      auto it = response.find(member);
      if (it == response.end()) continue;
      const json* arn = &*it;
      if (it->is_object()) {
        auto inner = it->find("Arn");
        if (inner == it->end()) continue;
        arn = &*inner;
      }
      if (arn->is_string() && IsKeyArn(arn->get_ref<const std::string&>())) {
        AddResource(arns, arn->get<std::string>());
      }
    }
  }
  // A failed request, or one whose answer names no key: the key it asked for, when that was a key
  // id or key ARN (an alias cannot be resolved here).
  if (arns.empty() && request.is_object()) {
    for (std::string_view member : kRequestKeyMembers) {
      auto it = request.find(member);
      if (it == request.end() || !it->is_string()) continue;
      const std::string& id = it->get_ref<const std::string&>();
      if (IsKeyArn(id)) {
        AddResource(arns, id);
      } else if (IsUuid(id)) {
        AddResource(arns, StrCat("arn:aws:kms:", settings.region, ":", settings.account_id, ":key/",
                                 AsciiLower(id)));
      }
    }
  }
  return arns;
}

// Read here rather than with HttpRequest::Header, which lives in the net layer.
std::string UserAgent(const HttpRequest& http) {
  for (const auto& [name, value] : http.headers) {
    if (name == "user-agent") return value;
  }
  return "";
}

bool IsReadOnly(std::string_view operation) {
  return operation.starts_with("Describe") || operation.starts_with("List") ||
         operation.starts_with("Get") || operation == "LookupEvents";
}

ordered_json Identity(const Principal& principal) {
  ordered_json identity = ordered_json::object();
  identity["type"] = principal.type;
  identity["principalId"] = principal.principal_id;
  identity["arn"] = principal.arn;
  identity["accountId"] = principal.account_id;
  identity["accessKeyId"] = principal.access_key_id;
  if (principal.kind == PrincipalType::kIamUser) {
    identity["userName"] = principal.user_name;
  } else if (principal.kind == PrincipalType::kAssumedRole) {
    ordered_json issuer = ordered_json::object();
    issuer["type"] = "Role";
    issuer["principalId"] = principal.role_id;
    issuer["arn"] = principal.role_arn;
    issuer["accountId"] = principal.account_id;
    issuer["userName"] = principal.role_name;
    ordered_json attributes = ordered_json::object();
    attributes["creationDate"] = FormatTime(principal.session_created);
    attributes["mfaAuthenticated"] = "false";
    identity["sessionContext"]["sessionIssuer"] = std::move(issuer);
    identity["sessionContext"]["attributes"] = std::move(attributes);
  }
  return identity;
}

std::string ErrorCode(const absl::Status& status, bool kms) {
  ErrorType type = TypeOf(status);
  if (!kms) {
    if (type == ErrorType::kAccessDenied) return "AccessDenied";
    if (type == ErrorType::kNotFound) return "NoSuchEntityException";
    if (type == ErrorType::kAlreadyExists) return "EntityAlreadyExistsException";
    if (type == ErrorType::kUnrecognizedClient || type == ErrorType::kInvalidClientTokenId) {
      return "InvalidClientTokenId";
    }
    if (type == ErrorType::kInvalidSignature) return "SignatureDoesNotMatch";
  }
  return std::string(AwsName(type));
}

// AssumeRole's role ARN from its parameters (the record's roleArn: the later of the twins).
std::string AssumedRoleArn(std::string_view operation, const json& request) {
  if (operation != "AssumeRole" || !request.is_object()) return "";
  for (const char* name : {"roleArn", "RoleArn"}) {
    auto it = request.find(name);
    if (it == request.end()) continue;
    if (!it->is_string()) return "";
    const std::string& arn = it->get_ref<const std::string&>();
    return arn.starts_with("arn:") && arn.find(":role/") != std::string::npos ? arn : "";
  }
  return "";
}

}  // namespace

inline std::string BuildEvent(const RequestOutcome& outcome, const EventSettings& settings,
                              int64_t now_seconds, const std::string& event_id) {
  std::string_view operation = outcome.operation;
  std::string source =
      outcome.event_source.empty() ? "kms.amazonaws.com" : std::string(outcome.event_source);
  bool kms = source == "kms.amazonaws.com";
  json request = outcome.request_parameters_json.empty()
                     ? ParseAllowlisted(outcome.http.body, kRequestAllowlist)
                     : ParseWithout(outcome.request_parameters_json, kSecretNames);
  // Key names for resources are read even from a cryptographic operation's answer; nothing else.
  json response;
  if (outcome.status.ok() && !outcome.response_elements_json.empty()) {
    response = ParseWithout(outcome.response_elements_json, kSecretNames);
  } else if (outcome.status.ok() && kms) {
    response = ParseAllowlisted(outcome.response_body, kResponseAllowlist);
  }

  ordered_json event = ordered_json::object();
  event["eventVersion"] = "1.08";
  ordered_json identity = ordered_json::object();
  if (outcome.principal) {
    identity = Identity(*outcome.principal);
  } else {
    // Authentication failed: all we know is who the caller claimed to be.
    identity["type"] = "Unknown";
    if (!outcome.claimed_access_key_id.empty()) {
      identity["accessKeyId"] = std::string(outcome.claimed_access_key_id);
    }
  }
  event["userIdentity"] = std::move(identity);
  event["eventTime"] = FormatTime(now_seconds);
  event["eventSource"] = source;
  event["eventName"] = operation.empty() ? std::string("Unknown") : std::string(operation);
  event["awsRegion"] = settings.region;
  event["sourceIPAddress"] = outcome.http.remote_address;
  event["userAgent"] = UserAgent(outcome.http);
  if (!outcome.status.ok()) {
    event["errorCode"] = ErrorCode(outcome.status, kms);
    event["errorMessage"] = std::string(ToStd(outcome.status.message()));
  }
  event["requestParameters"] =
      request.is_object() && !request.empty() ? CloudTrailStyle(request) : ordered_json();
  bool records_answer = outcome.status.ok() && !IsReadOnly(operation) &&
                        !Contains(kCryptographicOperations, operation);
  bool record_response = records_answer && response.is_object() && !response.empty();
  std::vector<std::string> touched;
  if (kms) touched = TouchedKeys(request, response, settings);
  ordered_json elements = record_response ? CloudTrailStyle(response) : ordered_json();
  // AWS since December 2022: the key's ARN when the answer does not name the key.
  if (kms && records_answer && response.is_object() && !touched.empty() &&
      !response.contains("KeyId") && !response.contains("KeyMetadata") &&
      !response.contains("ReplicaKeyMetadata")) {
    if (!elements.is_object()) elements = ordered_json::object();
    elements["keyId"] = touched.front();
  }
  event["responseElements"] = std::move(elements);
  event["requestID"] = outcome.http.request_id;
  event["eventID"] = event_id;
  event["readOnly"] = IsReadOnly(operation);
  ordered_json resources = ordered_json::array();
  std::vector<std::string> arns;
  std::string type = "AWS::KMS::Key";
  if (kms) {
    arns = touched;
  } else if (std::string role = AssumedRoleArn(operation, request); !role.empty()) {
    arns.push_back(role);
    type = "AWS::IAM::Role";
  }
  for (const std::string& arn : arns) {
    std::string account = ArnAccount(arn);
    resources.push_back(ordered_json{{"accountId", account.empty() ? settings.account_id : account},
                                     {"type", type},
                                     {"ARN", arn}});
  }
  event["resources"] = std::move(resources);
  event["eventType"] = "AwsApiCall";
  event["managementEvent"] = true;
  event["recipientAccountId"] = settings.account_id;
  event["eventCategory"] = "Management";
  return DumpJson(event);
}

}  // namespace kmsd::audit::reference
