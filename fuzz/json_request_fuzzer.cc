// The JSON request reader (src/api/request_reader.cc): the body of every KMS request. The body is
// parsed, then every accessor the operations use reads the members they read, so each shape's
// checks (types, lengths, patterns, base64, maps, lists, nesting) meet hostile values.
#include <cstdint>
#include <string>

#include "api/request_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  auto parsed = api::RequestReader::Parse(fuzz::AsText(data, size));
  if (!parsed.ok()) return 0;
  api::RequestReader& reader = *parsed;
  reader.Has("KeyId");
  reader.String("KeyId", api::kKeyIdRule, /*required=*/true);
  reader.String("Description", api::kDescriptionRule);
  reader.String("AliasName", api::kAliasNameRule);
  reader.String("Marker", api::kMarkerRule);
  reader.String("Policy", api::kPolicyRule);
  reader.String("PolicyName", api::kPolicyNameRule);
  reader.String("GranteePrincipal", api::kPrincipalIdRule);
  reader.String("GrantId", api::kGrantIdRule);
  reader.String("Name", api::kGrantNameRule);
  reader.Enum("KeySpec", {"AES_256", "AES_128"});
  reader.Integer("NumberOfBytes", 1, 1024);
  reader.Integer("PendingWindowInDays", 7, 30);
  reader.Integer("Limit", 1, 1000);
  reader.Boolean("BypassPolicyLockoutSafetyCheck");
  reader.Timestamp("ValidTo");  // ImportKeyMaterial (issue 13)
  auto plaintext = reader.Blob("Plaintext", 1, 4096);
  if (plaintext) fuzz::Check(plaintext->size() >= 1 && plaintext->size() <= 4096, "Blob ignored its bounds");
  reader.Blob("CiphertextBlob", 1, 6144);
  reader.Context("EncryptionContext");
  reader.Context("SourceEncryptionContext");
  reader.StringList("Aliases", api::kAliasNameRule);
  reader.EnumList("Operations", {"Encrypt", "Decrypt", "GenerateDataKey"});
  reader.Tags("Tags");
  reader.GrantTokens();
  reader.Constraints("Constraints");
  reader.AddViolation("one more");
  absl::Status status = reader.Finish();
  fuzz::Check(!status.ok(), "Finish ignored a violation");
  return 0;
}
