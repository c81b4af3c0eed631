// Parse: a JSON policy document, validated as AWS validates it and compiled into the form
// Evaluate walks. The only file that knows nlohmann::json; its exceptions stop here.
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "kmsd/errors.h"
#include "kmsd/policy.h"
#include "kmsd/strings.h"
#include "nlohmann/json.hpp"
#include "policy/compiled.h"
#include "policy/conditions.h"
#include "policy/principals.h"

namespace kmsd::policy {
namespace {

using internal::CompiledPolicy;
using internal::Condition;
using internal::Pattern;
using internal::PrincipalEntry;
using internal::Statement;
using nlohmann::json;

// A policy nests six levels at most (Statement > [ > { > Condition > operator > key > [): twice
// that is generous, and bounds what a hostile document can make the parser build.
constexpr int kMaxNestingDepth = 12;
constexpr size_t kMaxEchoedText = 128;

absl::Status Malformed(std::string_view message) {
  return Error(ErrorType::kMalformedPolicyDocument, message);
}

// A value from the document, quoted and cut short, for messages.
std::string Quote(std::string_view text) {
  if (text.size() > kMaxEchoedText) return StrCat("\"", text.substr(0, kMaxEchoedText), "...\"");
  return StrCat("\"", text, "\"");
}

std::string_view TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

bool IsAlphanumeric(std::string_view text) {
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// A scalar condition value as text: AWS accepts numbers and booleans where strings are meant.
std::optional<std::string> ScalarText(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return std::string(value.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case json::value_t::number_float:
      return value.dump();
    default:
      return std::nullopt;
  }
}

class StatementCompiler {
 public:
  StatementCompiler(PolicyKind kind, bool variables) : kind_(kind), variables_(variables) {}

  absl::Status Compile(const json& element, size_t index, Statement& statement) {
    where_ = StrCat("Statement[", index, "]");
    if (!element.is_object()) return Problem(StrCat("is ", TypeName(element), ", not an object"));
    if (auto sid = element.find("Sid"); sid != element.end()) {
      if (!sid->is_string()) return Problem("Sid must be a string");
      statement.name = sid->get<std::string>();
      where_ = StrCat(where_, " (Sid ", Quote(statement.name), ")");
      // IAM's own policies take letters and digits only; key policies also take spaces and more
      // (AWS's default key policy's Sid is "Enable IAM User Permissions").
      if (kind_ != PolicyKind::kResource && !IsAlphanumeric(statement.name)) {
        return Problem("Sid must be alphanumeric (A-Z, a-z, 0-9) in an IAM policy");
      }
    } else {
      statement.name = StrCat("Statement[", index, "]");
    }
    for (const auto& [name, value] : element.items()) {
      if (name != "Sid" && name != "Effect" && name != "Principal" && name != "NotPrincipal" &&
          name != "Action" && name != "NotAction" && name != "Resource" && name != "NotResource" &&
          name != "Condition") {
        return Problem(StrCat("unknown element ", Quote(name)));
      }
    }
    if (auto status = CompileEffect(element, statement); !status.ok()) return status;
    if (auto status = CompileActions(element, statement); !status.ok()) return status;
    if (auto status = CompileResources(element, statement); !status.ok()) return status;
    if (auto status = CompilePrincipals(element, statement); !status.ok()) return status;
    if (auto condition = element.find("Condition"); condition != element.end()) {
      if (auto status = CompileConditions(*condition, statement); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Problem(std::string_view problem) const {
    return Malformed(StrCat(where_, ": ", problem));
  }

  // A string or a non-empty array of strings: how Action, Resource and principals are written.
  absl::Status StringList(const json& value, std::string_view element,
                          std::vector<std::string>& out) const {
    if (value.is_string()) {
      out.push_back(value.get<std::string>());
    } else if (value.is_array()) {
      if (value.empty()) return Problem(StrCat(element, " is an empty array"));
      for (const json& item : value) {
        if (!item.is_string()) {
          return Problem(StrCat(element, " has ", TypeName(item), " where a string belongs"));
        }
        out.push_back(item.get<std::string>());
      }
    } else {
      return Problem(
          StrCat(element, " must be a string or an array of strings, not ", TypeName(value)));
    }
    for (const std::string& text : out) {
      if (text.empty()) return Problem(StrCat(element, " has an empty string"));
    }
    return absl::OkStatus();
  }

  absl::Status CompileEffect(const json& element, Statement& statement) const {
    auto effect = element.find("Effect");
    if (effect == element.end()) return Problem("Effect is missing");
    if (effect->is_string() && *effect == "Allow") {
      statement.allow = true;
    } else if (effect->is_string() && *effect == "Deny") {
      statement.allow = false;
    } else {
      return Problem(StrCat("Effect must be \"Allow\" or \"Deny\", not ",
                            effect->is_string() ? Quote(effect->get<std::string>())
                                                : std::string(TypeName(*effect))));
    }
    return absl::OkStatus();
  }

  // One of the pairs Action/NotAction, Resource/NotResource, Principal/NotPrincipal: at most
  // one of the two is in a statement. value is nullptr when neither is.
  struct OneOf {
    const json* value = nullptr;
    bool negated = false;
    std::string_view name;
  };
  absl::StatusOr<OneOf> FindOneOf(const json& element, std::string_view name,
                                  std::string_view negated_name) const {
    auto plain = element.find(name);
    auto negated = element.find(negated_name);
    if (plain != element.end() && negated != element.end()) {
      return Problem(
          StrCat("has both ", name, " and ", negated_name, "; a statement has one of them"));
    }
    if (negated != element.end()) return OneOf{&*negated, true, negated_name};
    if (plain != element.end()) return OneOf{&*plain, false, name};
    return OneOf{nullptr, false, name};
  }

  absl::Status CompileActions(const json& element, Statement& statement) const {
    auto action = FindOneOf(element, "Action", "NotAction");
    if (!action.ok()) return action.status();
    if (action->value == nullptr) {
      return Problem("Action is missing (a statement needs Action or NotAction)");
    }
    statement.not_action = action->negated;
    std::vector<std::string> texts;
    if (auto status = StringList(*action->value, action->name, texts); !status.ok()) return status;
    for (const std::string& text : texts) {
      // AWS: "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
      size_t colon = text.find(':');
      if (text != "*" && (colon == std::string::npos || colon == 0 || colon + 1 == text.size())) {
        return Problem(StrCat(action->name, " ", Quote(text),
                              " must be \"*\" or service:action, such as kms:Encrypt"));
      }
      statement.actions.push_back(Pattern::Compile(
          AsciiLower(text), {.wildcards = true, .variables = false, .ignore_case = true}));
    }
    return absl::OkStatus();
  }

  absl::Status CompileResources(const json& element, Statement& statement) const {
    auto resource = FindOneOf(element, "Resource", "NotResource");
    if (!resource.ok()) return resource.status();
    if (kind_ == PolicyKind::kTrust) {
      // A trust policy is about its own role: AWS refuses a Resource in one.
      if (resource->value != nullptr) {
        return Problem(StrCat(resource->name, " is not allowed in a role trust policy"));
      }
      return absl::OkStatus();
    }
    if (resource->value == nullptr) {
      return Problem("Resource is missing (a statement needs Resource or NotResource)");
    }
    statement.has_resource = true;
    statement.not_resource = resource->negated;
    std::string_view name = resource->name;
    std::vector<std::string> texts;
    if (auto status = StringList(*resource->value, name, texts); !status.ok()) return status;
    for (const std::string& text : texts) {
      if (text != "*" && !text.starts_with("arn:")) {
        return Problem(StrCat(name, " ", Quote(text), " must be \"*\" or an ARN"));
      }
      statement.resources.push_back(
          Pattern::Compile(text, {.wildcards = true, .variables = variables_}));
    }
    return absl::OkStatus();
  }

  absl::Status CompilePrincipals(const json& element, Statement& statement) const {
    auto principal = FindOneOf(element, "Principal", "NotPrincipal");
    if (kind_ == PolicyKind::kIdentity) {
      if (!principal.ok() || principal->value != nullptr) {
        return Problem(StrCat(element.contains("Principal") ? "Principal" : "NotPrincipal",
                              " is not allowed in an identity-based policy"));
      }
      return absl::OkStatus();
    }
    if (!principal.ok()) return principal.status();
    if (principal->value == nullptr) {
      return Problem(StrCat("Principal is missing (every statement of a ",
                            kind_ == PolicyKind::kTrust ? "trust" : "resource-based",
                            " policy needs Principal or NotPrincipal)"));
    }
    std::string_view name = principal->name;
    const json& value = *principal->value;
    statement.principal_mode = principal->negated ? Statement::PrincipalMode::kNotPrincipal
                                                  : Statement::PrincipalMode::kPrincipal;
    if (value.is_string()) {
      if (value != "*") {
        return Problem(StrCat(name, " ", Quote(value.get<std::string>()),
                              " must be \"*\" or an object such as {\"AWS\": \"arn:...\"}"));
      }
      statement.principals.push_back({PrincipalEntry::Kind::kAnyone, ""});
      return absl::OkStatus();
    }
    if (!value.is_object() || value.empty()) {
      return Problem(StrCat(name, " must be \"*\" or a non-empty object such as {\"AWS\": ...}"));
    }
    for (const auto& [type, values] : value.items()) {
      if (type != "AWS" && type != "Service" && type != "Federated" && type != "CanonicalUser") {
        return Problem(StrCat(name, " has unknown principal type ", Quote(type),
                              " (AWS, Service, Federated or CanonicalUser)"));
      }
      std::vector<std::string> texts;
      if (auto status = StringList(values, StrCat(name, ".", type), texts); !status.ok()) {
        return status;
      }
      for (const std::string& text : texts) {
        auto entry = internal::CompilePrincipal(type, text);
        if (!entry) {
          // KMS's own words first, then which one and why.
          return Problem(StrCat(
              "Policy contains a statement with one or more invalid principals: ", name, ".", type,
              " ", Quote(text),
              " is not \"*\", an account id, or the ARN of an account root, IAM user, IAM role "
              "or assumed-role session"));
        }
        statement.principals.push_back(std::move(*entry));
      }
    }
    return absl::OkStatus();
  }

  // KMS refuses a key policy that puts ForAllValues on a single-valued key naming one encryption
  // context pair or tag: it would allow requests without that pair, or with others (KMS
  // developer guide, "kms:EncryptionContext:context-key"; its words).
  absl::Status CheckOverlyPermissive(const Condition& condition) const {
    if (kind_ != PolicyKind::kResource ||
        condition.qualifier != internal::SetQualifier::kForAllValues) {
      return absl::OkStatus();
    }
    if (condition.key.starts_with("kms:encryptioncontext:")) {
      return Problem(
          "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a "
          "single-valued condition key matches requests without the specified encryption context "
          "or with an unspecified encryption context. To fix, remove ForAllValues.");
    }
    if (condition.key.starts_with("aws:requesttag/")) {
      return Problem(
          "OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued "
          "condition key matches requests without the specified tag or with an unspecified tag. "
          "To fix, remove ForAllValues.");
    }
    return absl::OkStatus();
  }

  absl::Status CompileConditions(const json& block, Statement& statement) const {
    if (!block.is_object()) {
      return Problem(StrCat("Condition must be an object, not ", TypeName(block)));
    }
    for (const auto& [operator_name, keys] : block.items()) {
      auto parsed = internal::ParseOperatorName(operator_name);
      if (!parsed) {
        return Problem(StrCat("Condition operator ", Quote(operator_name), " is not supported"));
      }
      if (!keys.is_object() || keys.empty()) {
        return Problem(StrCat("Condition ", operator_name,
                              " must be a non-empty object of condition keys and values"));
      }
      for (const auto& [key, values] : keys.items()) {
        Condition condition = *parsed;
        size_t colon = key.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == key.size()) {
          return Problem(StrCat("Condition key ", Quote(key),
                                " must be prefixed by a service, such as aws: or kms:"));
        }
        condition.key = AsciiLower(key);
        if (auto status = CheckOverlyPermissive(condition); !status.ok()) return status;
        std::string where = StrCat("Condition ", operator_name, " ", key);
        std::vector<const json*> items;
        if (values.is_array()) {
          if (values.empty()) return Problem(StrCat(where, " is an empty array"));
          for (const json& item : values) items.push_back(&item);
        } else {
          items.push_back(&values);
        }
        for (const json* item : items) {
          auto text = ScalarText(*item);
          if (!text) {
            return Problem(StrCat(where, " has ", TypeName(*item),
                                  " where a string, number or boolean belongs"));
          }
          std::string problem;
          auto value = internal::CompileConditionValue(condition, *text, variables_, &problem);
          if (!value) return Problem(StrCat(where, ": ", Quote(*text), " ", problem));
          condition.values.push_back(std::move(*value));
        }
        statement.conditions.push_back(std::move(condition));
      }
    }
    return absl::OkStatus();
  }

  PolicyKind kind_;
  bool variables_;
  std::string where_;
};

// Watches the parser for what nlohmann::json accepts but a policy must not have: nesting past
// the limit (dropped as it is read, so a hostile document cannot make the parser build it) and a
// member named twice in one object (the parser would keep the last silently, so the policy would
// not mean what a reader of its first member thinks).
class JsonReader {
 public:
  json::parser_callback_t Callback() {
    return [this](int depth, json::parse_event_t event, json& parsed) {
      if (!problem_.empty())
        return event != json::parse_event_t::object_start &&
               event != json::parse_event_t::array_start;
      switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
          if (depth >= kMaxNestingDepth) {
            problem_ = StrCat("the policy nests JSON deeper than ", kMaxNestingDepth, " levels");
            return false;
          }
          if (event == json::parse_event_t::object_start) open_objects_.emplace_back();
          return true;
        case json::parse_event_t::object_end:
          if (!open_objects_.empty()) open_objects_.pop_back();
          return true;
        case json::parse_event_t::key:
          if (!open_objects_.empty() && parsed.is_string() &&
              !open_objects_.back().insert(parsed.get<std::string>()).second) {
            problem_ = StrCat("the policy names the member ", Quote(parsed.get<std::string>()),
                              " twice in one object");
          }
          return true;
        default:
          return true;
      }
    };
  }
  const std::string& problem() const { return problem_; }

 private:
  std::vector<std::set<std::string>> open_objects_;
  std::string problem_;
};

void ListPrincipalArns(CompiledPolicy& policy) {
  for (const Statement& statement : policy.statements_) {
    for (const PrincipalEntry& entry : statement.principals) {
      std::string arn;
      if (entry.kind == PrincipalEntry::Kind::kAccount) {
        arn = StrCat("arn:aws:iam::", entry.value, ":root");
      } else if (entry.kind == PrincipalEntry::Kind::kArn) {
        arn = entry.value;
      } else {
        continue;
      }
      bool seen = false;
      for (const std::string& listed : policy.principal_arns_) seen = seen || listed == arn;
      if (!seen) policy.principal_arns_.push_back(std::move(arn));
    }
  }
}

absl::StatusOr<PolicyPtr> Compile(const json& root, std::string_view document, PolicyKind kind) {
  if (!root.is_object()) {
    return Malformed(StrCat("the policy must be a JSON object, not ", TypeName(root)));
  }
  for (const auto& [name, value] : root.items()) {
    if (name != "Version" && name != "Id" && name != "Statement") {
      return Malformed(StrCat("unknown top-level element ", Quote(name),
                              " (a policy has Version, Id and Statement)"));
    }
  }
  // Without a Version, AWS reads the 2008 language, where ${...} is literal text.
  bool variables = false;
  if (auto version = root.find("Version"); version != root.end()) {
    if (*version == "2012-10-17") {
      variables = true;
    } else if (*version != "2008-10-17") {
      return Malformed(StrCat("Version must be \"2012-10-17\" or \"2008-10-17\", not ",
                              version->is_string() ? Quote(version->get<std::string>())
                                                   : std::string(TypeName(*version))));
    }
  }
  if (auto id = root.find("Id"); id != root.end() && !id->is_string()) {
    return Malformed("Id must be a string");
  }
  auto statements = root.find("Statement");
  if (statements == root.end()) return Malformed("the policy has no Statement");
  if (statements->is_array() && statements->empty())
    return Malformed("Statement is an empty array");
  if (!statements->is_array() && !statements->is_object()) {
    return Malformed(
        StrCat("Statement must be an object or an array of objects, not ", TypeName(*statements)));
  }

  auto policy = std::make_shared<CompiledPolicy>();
  policy->document_ = std::string(document);
  policy->kind_ = kind;
  StatementCompiler compiler(kind, variables);
  std::map<std::string, size_t> sids;
  auto compile_one = [&](const json& element, size_t index) -> absl::Status {
    Statement statement;
    if (auto status = compiler.Compile(element, index, statement); !status.ok()) return status;
    if (element.contains("Sid")) {
      auto [at, inserted] = sids.emplace(statement.name, index);
      if (!inserted) {
        return Malformed(StrCat("Statement[", index, "]: Sid ", Quote(statement.name),
                                " is also the Sid of Statement[", at->second,
                                "]; Sids must be unique within a policy"));
      }
    }
    policy->statements_.push_back(std::move(statement));
    return absl::OkStatus();
  };
  if (statements->is_object()) {
    if (auto status = compile_one(*statements, 0); !status.ok()) return status;
  } else {
    for (size_t i = 0; i < statements->size(); ++i) {
      if (auto status = compile_one((*statements)[i], i); !status.ok()) return status;
    }
  }
  ListPrincipalArns(*policy);
  return PolicyPtr(std::move(policy));
}

}  // namespace

absl::StatusOr<PolicyPtr> Parse(std::string_view document, PolicyKind kind, size_t max_bytes) {
  if (document.size() > max_bytes) {
    return Malformed(StrCat("the policy is ", document.size(), " bytes; the limit is ", max_bytes));
  }
  try {
    JsonReader reader;
    json root = json::parse(document.begin(), document.end(), reader.Callback(),
                            /*allow_exceptions=*/false);
    if (!reader.problem().empty()) return Malformed(reader.problem());
    if (root.is_discarded()) return Malformed("the policy is not valid JSON");
    return Compile(root, document, kind);
  } catch (const std::exception& error) {
    // nlohmann::json throws only on misuse; a document must never take the server down.
    return Malformed(StrCat("the policy could not be read: ", error.what()));
  }
}

}  // namespace kmsd::policy
