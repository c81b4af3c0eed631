// The policy document parser (src/policy/document.cc): key policies (PutKeyPolicy, CreateKey),
// IAM inline policies and role trust policies, all from callers. Parts: document | request
// context ("key=value" lines; "action=" and "resource=" set those). The first input byte picks the
// kind. A document that parses is evaluated against the context, so the compiled conditions
// (numbers, dates, CIDRs, ARNs, variables) meet hostile request values too.
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/policy.h"
#include "kmsd/principal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  if (size == 0) return 0;
  static const auto caller = std::make_shared<const Principal>(
      RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001"));
  policy::PolicyKind kind = data[0] % 3 == 0   ? policy::PolicyKind::kResource
                            : data[0] % 3 == 1 ? policy::PolicyKind::kIdentity
                                               : policy::PolicyKind::kTrust;
  auto parts = fuzz::Parts(fuzz::AsText(data + 1, size - 1), 2);
  auto parsed = policy::Parse(parts[0], kind);
  if (!parsed.ok()) return 0;
  fuzz::Check((*parsed)->Document() == parts[0], "the document was not kept as given");

  policy::RequestContext context;
  context.action = "kms:Encrypt";
  context.resource = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  context.SetCaller(caller);
  std::string_view lines = parts[1];
  while (!lines.empty()) {
    size_t end = lines.find('\n');
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view key = line.substr(0, equals);
    std::string value(line.substr(equals + 1));
    if (key == "action") {
      context.action = value;
    } else if (key == "resource") {
      context.resource = value;
    } else {
      context.Add(key, value);
    }
  }
  policy::Result result = policy::Evaluate(**parsed, context);
  policy::AuthorizationRequest request;
  request.context = &context;
  request.resource_policy = kind == policy::PolicyKind::kIdentity ? nullptr : parsed->get();
  request.granted = [] { return false; };
  policy::Decision decision = policy::Authorize(request);
  fuzz::Check(!(decision.allowed && result.explicit_deny && request.resource_policy),
              "an explicit deny was overridden");
  fuzz::Check(decision.allowed || !decision.message.empty(), "a denial without a message");
  return 0;
}
