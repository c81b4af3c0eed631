// BuildEvent must write exactly the bytes the nlohmann-based implementation writes (the hash chain,
// the verifier and the query tool read them): realistic outcomes of every operation (KMS, IAM,
// STS), every error kind, every kind of caller, hostile inputs and random JSON, each compared byte
// for byte with the reference copy.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "audit/event.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "unit/audit/audit_test_util.h"
#include "unit/audit/event_reference.h"

namespace kmsd::audit {
namespace {

using namespace std::string_literals;
using testing::Call;
using testing::MakeCall;

constexpr char kKeyId[] = "1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kOtherArn[] =
    "arn:aws:kms:eu-west-3:444455556666:key/00000000-0000-4000-8000-000000000001";
const EventSettings kSettings{"us-east-1", "111122223333"};
constexpr int64_t kNow = 1714557600;
constexpr char kEventId[] = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

// The one deliberate difference from the reference: for a request that failed authentication,
// requestParameters over 4096 bytes are left out and counted (src/audit/event.cc).
std::string WithUnauthenticatedCap(const Call& call, std::string event) {
  if (call.principal) return event;
  constexpr std::string_view kStart = R"(,"requestParameters":)";
  constexpr std::string_view kEnd = R"(,"responseElements":)";
  size_t start = event.find(kStart);
  size_t end = event.find(kEnd);
  if (start == std::string::npos || end == std::string::npos) return event;
  start += kStart.size();
  size_t size = end - start;
  if (size <= 4096) return event;
  return StrCat(event.substr(0, start), R"(null,"requestParametersOmitted":)", size,
                event.substr(end));
}

// Fails with both texts when the implementations differ on call.
void ExpectSameEvent(const Call& call, const EventSettings& settings = kSettings,
                     int64_t now = kNow, const std::string& event_id = kEventId) {
  std::string expected =
      WithUnauthenticatedCap(call, reference::BuildEvent(call.Outcome(), settings, now, event_id));
  std::string actual = BuildEvent(call.Outcome(), settings, now, event_id);
  ASSERT_EQ(actual, expected) << "operation: " << call.operation << "\nbody: " << call.http.body
                              << "\nresponse: " << call.response;
}

const std::vector<ErrorType>& ErrorTypes() {
  static const std::vector<ErrorType> types = {
      ErrorType::kAlreadyExists,
      ErrorType::kDependencyTimeout,
      ErrorType::kDisabled,
      ErrorType::kIncorrectKey,
      ErrorType::kInvalidAliasName,
      ErrorType::kInvalidArn,
      ErrorType::kInvalidCiphertext,
      ErrorType::kInvalidGrantToken,
      ErrorType::kInvalidKeyUsage,
      ErrorType::kInvalidMarker,
      ErrorType::kKmsInternal,
      ErrorType::kKmsInvalidState,
      ErrorType::kKeyUnavailable,
      ErrorType::kLimitExceeded,
      ErrorType::kNotFound,
      ErrorType::kTag,
      ErrorType::kUnsupportedOperation,
      ErrorType::kDryRunOperation,
      ErrorType::kValidation,
      ErrorType::kSerialization,
      ErrorType::kUnknownOperation,
      ErrorType::kAccessDenied,
      ErrorType::kIncompleteSignature,
      ErrorType::kInvalidSignature,
      ErrorType::kMissingAuthenticationToken,
      ErrorType::kUnrecognizedClient,
      ErrorType::kRequestEntityTooLarge,
      ErrorType::kThrottling,
  };
  return types;
}

struct Exchange {
  std::string operation;
  std::string request;
  std::string response;
};

std::string KeyMetadata(std::string_view state = "Enabled") {
  return StrCat(R"({"AWSAccountId":"111122223333","KeyId":")", kKeyId, R"(","Arn":")", kKeyArn,
                R"(","CreationDate":1714557600,"Enabled":true,"Description":"app key",)",
                R"("KeyUsage":"ENCRYPT_DECRYPT","KeyState":")", state,
                R"(","Origin":"AWS_KMS","KeyManager":"CUSTOMER",)",
                R"("CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","KeySpec":"SYMMETRIC_DEFAULT",)",
                R"("EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegion":false})");
}

// What kmsd's API layer receives and answers for each supported operation.
std::vector<Exchange> RealisticExchanges() {
  const std::string blob =
      "AQICAHgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      "AA"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      "==";
  const std::string key_json = StrCat(R"("KeyId":")", kKeyArn, R"(")");
  return {
      {"CreateKey",
       R"({"Description":"app key","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT","Origin":"AWS_KMS","MultiRegion":false,"Policy":"{\"Version\":\"2012-10-17\"}","BypassPolicyLockoutSafetyCheck":false,"Tags":[{"TagKey":"team","TagValue":"payments"},{"TagKey":"env","TagValue":"prod"}]})",
       StrCat(R"({"KeyMetadata":)", KeyMetadata(), "}")},
      {"CreateKey", "{}", StrCat(R"({"KeyMetadata":)", KeyMetadata(), "}")},
      {"DescribeKey", StrCat(R"({"KeyId":")", kKeyId, R"("})"),
       StrCat(R"({"KeyMetadata":)", KeyMetadata(), "}")},
      {"DescribeKey", R"({"KeyId":"alias/app","GrantTokens":["token"]})",
       StrCat(R"({"KeyMetadata":)", KeyMetadata(), "}")},
      {"ListKeys", R"({"Limit":10,"Marker":"abc"})",
       StrCat(R"({"Keys":[{"KeyId":")", kKeyId, R"(","KeyArn":")", kKeyArn,
              R"("}],"Truncated":true,"NextMarker":"def"})")},
      {"EnableKey", StrCat(R"({"KeyId":")", kKeyArn, R"("})"), "{}"},
      {"DisableKey", StrCat(R"({"KeyId":")", kKeyId, R"("})"), "{}"},
      {"UpdateKeyDescription", StrCat(R"({"KeyId":")", kKeyId, R"(","Description":"new"})"), "{}"},
      {"CreateAlias", StrCat(R"({"AliasName":"alias/app","TargetKeyId":")", kKeyId, R"("})"), "{}"},
      {"UpdateAlias", StrCat(R"({"AliasName":"alias/app","TargetKeyId":")", kKeyArn, R"("})"),
       "{}"},
      {"DeleteAlias", R"({"AliasName":"alias/app"})", "{}"},
      {"ListAliases", StrCat(R"({"KeyId":")", kKeyId, R"(","Limit":50})"),
       StrCat(
           R"({"Aliases":[{"AliasName":"alias/app","AliasArn":"arn:aws:kms:us-east-1:111122223333:alias/app","TargetKeyId":")",
           kKeyId,
           R"(","CreationDate":1714557600,"LastUpdatedDate":1714557600}],"Truncated":false})")},
      {"Encrypt",
       R"({"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"tenant":"acme","purpose":"bench"},"GrantTokens":["g"],"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})",
       StrCat(R"({"CiphertextBlob":")", blob, R"(",)", key_json,
              R"(,"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})")},
      {"Decrypt",
       StrCat(R"({"CiphertextBlob":")", blob,
              R"(","EncryptionContext":{"tenant":"acme"},"KeyId":"alias/app"})"),
       StrCat(R"({"Plaintext":"aGVsbG8gd29ybGQ=",)", key_json,
              R"(,"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})")},
      {"ReEncrypt",
       StrCat(
           R"({"CiphertextBlob":")", blob,
           R"(","SourceEncryptionContext":{"a":"1"},"DestinationKeyId":")", kKeyId,
           R"(","DestinationEncryptionContext":{"B":"2"},"SourceEncryptionAlgorithm":"SYMMETRIC_DEFAULT","DestinationEncryptionAlgorithm":"SYMMETRIC_DEFAULT"})"),
       StrCat(
           R"({"CiphertextBlob":")", blob, R"(","SourceKeyId":")", kOtherArn, R"(",)", key_json,
           R"(,"SourceEncryptionAlgorithm":"SYMMETRIC_DEFAULT","DestinationEncryptionAlgorithm":"SYMMETRIC_DEFAULT"})")},
      {"GenerateDataKey",
       R"({"KeyId":"alias/app","KeySpec":"AES_256","EncryptionContext":{"file":"a.txt"}})",
       StrCat(R"({"CiphertextBlob":")", blob,
              R"(","Plaintext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",)", key_json, "}")},
      {"GenerateDataKeyWithoutPlaintext",
       StrCat(R"({"KeyId":")", kKeyId, R"(","NumberOfBytes":32})"),
       StrCat(R"({"CiphertextBlob":")", blob, R"(",)", key_json, "}")},
      {"GenerateRandom", R"({"NumberOfBytes":32})",
       R"({"Plaintext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})"},
      {"ScheduleKeyDeletion", StrCat(R"({"KeyId":")", kKeyId, R"(","PendingWindowInDays":7})"),
       StrCat(
           R"({)", key_json,
           R"(,"DeletionDate":1715162400,"KeyState":"PendingDeletion","PendingWindowInDays":7})")},
      {"CancelKeyDeletion", StrCat(R"({"KeyId":")", kKeyId, R"("})"), StrCat("{", key_json, "}")},
      {"EnableKeyRotation", StrCat(R"({"KeyId":")", kKeyId, R"(","RotationPeriodInDays":180})"),
       "{}"},
      {"DisableKeyRotation", StrCat(R"({"KeyId":")", kKeyId, R"("})"), "{}"},
      {"GetKeyRotationStatus", StrCat(R"({"KeyId":")", kKeyId, R"("})"),
       StrCat(R"({"KeyRotationEnabled":true,)", key_json,
              R"(,"RotationPeriodInDays":365,"NextRotationDate":1746093600})")},
      {"RotateKeyOnDemand", StrCat(R"({"KeyId":")", kKeyId, R"("})"), StrCat("{", key_json, "}")},
      {"ListKeyRotations", StrCat(R"({"KeyId":")", kKeyId, R"(","Limit":5,"Marker":"m"})"),
       StrCat(R"({"Rotations":[{)", key_json,
              R"(,"RotationDate":1714557600,"RotationType":"ON_DEMAND"}],"Truncated":false})")},
      {"TagResource",
       StrCat(R"({"KeyId":")", kKeyId, R"(","Tags":[{"TagKey":"a","TagValue":"b"}]})"), "{}"},
      {"UntagResource", StrCat(R"({"KeyId":")", kKeyId, R"(","TagKeys":["a","b"]})"), "{}"},
      {"ListResourceTags", StrCat(R"({"KeyId":")", kKeyId, R"(","Limit":50})"),
       R"({"Tags":[{"TagKey":"a","TagValue":"b"}],"Truncated":false})"},
  };
}

TEST(AuditEventDifferential, EverySupportedOperationSucceeding) {
  for (const Exchange& exchange : RealisticExchanges()) {
    ExpectSameEvent(MakeCall(exchange.operation, exchange.request, exchange.response));
  }
}

TEST(AuditEventDifferential, EverySupportedOperationFailingWithEachErrorKind) {
  for (const Exchange& exchange : RealisticExchanges()) {
    for (ErrorType type : ErrorTypes()) {
      ExpectSameEvent(MakeCall(exchange.operation, exchange.request, "",
                               Error(type, StrCat("failed: ", exchange.operation))));
    }
    // A status made outside the error factories, with a message that needs escaping.
    ExpectSameEvent(MakeCall(exchange.operation, exchange.request, "",
                             absl::InternalError("disk \"full\"\n\tat /var/lib\\kmsd \x01")));
  }
}

TEST(AuditEventDifferential, FailedAuthentication) {
  for (const Exchange& exchange : RealisticExchanges()) {
    for (std::string claimed : {"", "AKIAWHOEVER", "AKIA\"\\\n\xff"}) {
      Call call = MakeCall(exchange.operation, exchange.request, "",
                           Error(ErrorType::kUnrecognizedClient, "The security token is invalid"));
      call.principal.reset();
      call.claimed_access_key_id = claimed;
      ExpectSameEvent(call);
    }
  }
}

TEST(AuditEventDifferential, SettingsTimesAndEventIds) {
  Call call = MakeCall("DescribeKey", StrCat(R"({"KeyId":")", kKeyId, R"("})"), "",
                       NotFound("Key not found"));
  for (const EventSettings& settings :
       {EventSettings{"eu-west-3", "444455556666"}, EventSettings{"", ""},
        EventSettings{"r\xc3\xa9gion\x7f", "\"acct\"\\"}}) {
    for (int64_t now : {int64_t{0}, int64_t{-1}, kNow, kNow + 1, int64_t{253402300799},
                        int64_t{4102444800}, int64_t{-62135596800}}) {
      ExpectSameEvent(call, settings, now, "e");
      ExpectSameEvent(call, settings, now, "\xe2\x82");
    }
  }
}

TEST(AuditEventDifferential, HostileHttpAndPrincipalFields) {
  const std::vector<std::string> texts = {
      "",
      "plain",
      "quote\" backslash\\ slash/ del\x7f",
      "nul\0inside"s,
      "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x1b\x1f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",            // valid UTF-8
      "\xff\xfe",                                             // invalid bytes
      "\xc3",                                                 // truncated sequence at the end
      "\xe2\x82x",                                            // truncated sequence before ASCII
      "\xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80",  // overlong, surrogate, > U+10FFFF
      "\xf0\x9f\x94",
      "a\x80"
      "b\xbf"
      "c\xf8\x88\x80\x80\x80",
  };
  for (const std::string& text : texts) {
    Call call = MakeCall("Encrypt", R"({"KeyId":"alias/app"})");
    call.http.headers = {{"user-agent", text}, {"user-agent", "second"}};
    call.http.remote_address = text;
    call.http.request_id = text;
    call.principal->type = text;
    call.principal->principal_id = text;
    call.principal->arn = text;
    call.principal->account_id = text;
    call.principal->access_key_id = text;
    ExpectSameEvent(call, kSettings, kNow, text);
    call.operation = text;
    ExpectSameEvent(call);
    call.status = Validation(text);
    ExpectSameEvent(call);
  }
  Call no_agent = MakeCall("Encrypt", "{}");
  no_agent.http.headers = {{"User-Agent", "capitalized is not read"}};
  ExpectSameEvent(no_agent);
}

// Bodies that stress the parse, the allowlists, the renaming and the number and string forms.
const std::vector<std::string>& OddBodies() {
  static const std::vector<std::string> bodies = {
      "",
      " ",
      "{}",
      " { } ",
      "null",
      "[]",
      R"(["KeyId"])",
      R"("KeyId")",
      "42",
      "{not json",
      R"({"KeyId":"a"})",
      R"({"KeyId":"a"} )",
      R"({"KeyId":"a"} x)",
      R"({"KeyId":"a"}{})",
      "{\"KeyId\":\"a\"}\0garbage"s,
      "{\"KeyId\":\"a\"} \0"s,
      "{\"KeyId\":\"a\"\0}"s,
      "{\"KeyId\":\"a\0\"}"s,
      "\0{}"s,
      "\xef\xbb\xbf{\"KeyId\":\"bom\"}",
      "\xef\xbb{\"KeyId\":\"bad bom\"}",
      "\xef{}",
      " \xef\xbb\xbf{}",
      "{\"KeyId\":\"a\",}",
      "{,\"KeyId\":\"a\"}",
      "{\"KeyId\" \"a\"}",
      "{\"KeyId\":}",
      "{\"KeyId\":\"a\"",
      "{\"KeyId\":\"a",
      "{'KeyId':'a'}",
      "{KeyId:\"a\"}",
      "{\"KeyId\":\"a\"}}",
      "\t\r\n{\t\"KeyId\"\r:\n\"a\"\t,\r\"Limit\" : 5 }\n",
      "{\"KeyId\":\"a\"\x0b}",
      "{\"KeyId\":\"a\"\x0c}",
      // Duplicates: the last one wins, in sorted position.
      R"({"KeyId":"first","KeyId":"second"})",
      R"({"KeyId":"alias/x","Limit":1,"KeyId":"1234ABCD-12AB-34CD-56EF-1234567890AB"})",
      R"({"EncryptionContext":{"b":"1","a":"2","b":"3"},"EncryptionContext":{"z":"0"}})",
      // Names that differ only in the case of their first letter collide once renamed.
      R"({"Tags":[{"TagKey":"upper","tagKey":"lower","TagValue":"v"}]})",
      R"({"Tags":[{"tagKey":"lower","TagKey":"upper","B":1,"b":2,"a":3,"A":4}]})",
      R"({"Tags":[{"Abc":{"X":1},"b":2,"abc":{"Y":1}}]})",
      R"({"Tags":[{"EncryptionContext":{"Keep":1},"encryptionContext":{"Lower":2}}]})",
      R"({"EncryptionContext":{"Tenant":"a","tenant":"b","":"empty"}})",
      R"({"EncryptionContext":{"Nested":{"Inner":{"Deep":1}},"EncryptionContext":{"Kept":1}}})",
      R"({"Tags":[[{"A":1}],{"SourceEncryptionContext":{"Keep":[{"Lower":1}]}}]})",
      R"({"Tags":{"":1,"1":2,"_x":3,"Zz":4,"zZ":5,"[":6}})",
      // Allowlisted members of every JSON type, and nested objects.
      R"({"KeyId":null,"Limit":true,"Marker":false,"Description":[],"Origin":{},"TagKeys":[null,1,"x",[],{}]})",
      R"({"KeyId":{"Arn":"arn:aws:kms:us-east-1:1:key/x"},"SourceKeyId":["a"],"TargetKeyId":7})",
      R"({"Plaintext":{"deep":[1,2,{"KeyId":"secret"}]},"CiphertextBlob":[[[[]]]],"KeyId":"k"})",
      // Key ids: key ARNs, UUIDs in any case, aliases, alias ARNs, near-misses.
      R"({"KeyId":"1234ABCD-12AB-34CD-56EF-1234567890AB"})",
      R"({"KeyId":"arn:aws:kms:eu-west-1:999988887777:key/k"})",
      R"({"KeyId":"arn:aws:kms:eu-west-1:999988887777:alias/a"})",
      R"({"KeyId":"arn::::key/x"})",
      R"({"KeyId":"arn:aws:kms:key/x"})",
      R"({"KeyId":"1234abcd-12ab-34cd-56ef-1234567890a"})",
      R"({"KeyId":"1234abcd-12ab-34cd-56ef-1234567890abc"})",
      R"({"SourceKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","DestinationKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","TargetKeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","KeyId":"1234ABCD-12AB-34CD-56EF-1234567890AB"})",
      // Numbers.
      R"({"Limit":0,"NumberOfBytes":-0,"PendingWindowInDays":-1,"RotationPeriodInDays":9223372036854775807})",
      R"({"Limit":18446744073709551615,"NumberOfBytes":18446744073709551616,"PendingWindowInDays":-9223372036854775808,"RotationPeriodInDays":-9223372036854775809})",
      R"({"Limit":1.0,"NumberOfBytes":1e2,"PendingWindowInDays":-0.0,"RotationPeriodInDays":1.5e-7})",
      R"({"Limit":0.1,"NumberOfBytes":1E+2,"PendingWindowInDays":123456789012345678901234567890,"RotationPeriodInDays":2.5E-1})",
      R"({"Limit":1e308,"NumberOfBytes":4.9e-324,"PendingWindowInDays":1e-400})",
      R"({"Limit":1e309})",
      R"({"Plaintext":1e999,"KeyId":"k"})",
      R"({"Limit":01})",
      R"({"Limit":-})",
      R"({"Limit":1.})",
      R"({"Limit":.5})",
      R"({"Limit":1e})",
      R"({"Limit":1e+})",
      R"({"Limit":+1})",
      R"({"Limit":0x10})",
      R"({"Limit":1.5.5})",
      R"({"Limit":-01})",
      R"({"Limit":Infinity})",
      R"({"Limit":NaN})",
      R"({"Limit":tru})",
      R"({"Limit":nul})",
      R"({"Limit":falsey})",
      R"({"Limit":True})",
      // Strings: escapes, unicode, control characters, invalid UTF-8.
      R"({"Description":"\"\\\/\b\f\n\r\t"})",
      R"({"Description":"\u0000\u0001\u001f\u0020\u007f\u0080\u00e9\u20ac\uFFFF\uD83D\uDD11"})",
      R"({"Description":"\ud83d\udd11 mixed \uD83D\uDD11"})",
      R"({"K\u0065yId":"escaped name","Descr\u0069ption":"d"})",
      R"({"EncryptionContext":{"k\"ey":"v\\al","\u00e9":"\u0000"}})",
      R"({"Description":"\uD83D"})",
      R"({"Description":"\uD83Dx"})",
      R"({"Description":"\uD83D\u0041"})",
      R"({"Description":"\uDD11"})",
      R"({"Description":"\u12"})",
      R"({"Description":"\u12G4"})",
      R"({"Description":"\x41"})",
      R"({"Description":"\a"})",
      R"({"Description":"\)",
      "{\"Description\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xef\xbf\xbf "
      "\xf4\x8f\xbf\xbf\"}",
      "{\"Description\":\"\xc3\"}",
      "{\"Description\":\"\xff\"}",
      "{\"Description\":\"\xc0\xaf\"}",
      "{\"Description\":\"\xe0\x9f\xbf\"}",
      "{\"Description\":\"\xed\xa0\x80\"}",
      "{\"Description\":\"\xf0\x8f\xbf\xbf\"}",
      "{\"Description\":\"\xf4\x90\x80\x80\"}",
      "{\"Description\":\"\x7f\"}",
      "{\"Description\":\"tab\tinside\"}",
      "{\"Description\":\"nl\ninside\"}",
      "{\"Plaintext\":\"\xff\",\"KeyId\":\"k\"}",
      "{\"Plaintext\":\"\x01\",\"KeyId\":\"k\"}",
      "{\"Plaintext\":\"\\q\",\"KeyId\":\"k\"}",
      "{\"\xc3\xa9\":1,\"KeyId\":\"k\"}",
      "{\"Tags\":[{\"\xc3\x89t\xc3\xa9\":1,\"\xc3\xa9t\xc3\xa9\":2,\"\\u00c9x\":3}]}",
  };
  return bodies;
}

TEST(AuditEventDifferential, OddRequestBodies) {
  for (const std::string& body : OddBodies()) {
    for (std::string_view operation : {"Encrypt", "CreateKey", "DescribeKey"}) {
      ExpectSameEvent(MakeCall(std::string(operation), body));
      ExpectSameEvent(MakeCall(std::string(operation), body, "", NotFound("missing")));
    }
  }
}

TEST(AuditEventDifferential, OddResponseBodies) {
  for (const std::string& body : OddBodies()) {
    for (std::string_view operation :
         {"CreateKey", "ScheduleKeyDeletion", "Encrypt", "DescribeKey", "UnknownThing", ""}) {
      ExpectSameEvent(MakeCall(std::string(operation), R"({"KeyId":"alias/a"})", body));
    }
  }
  for (std::string response : {
           StrCat(R"({"KeyMetadata":{"Arn":")", kOtherArn, R"(","arn":"x"},"KeyId":")", kKeyArn,
                  R"("})"),
           StrCat(R"({"KeyMetadata":")", kKeyArn, R"(","SourceKeyId":")", kKeyArn, R"("})"),
           StrCat(R"({"KeyMetadata":{"Arn":")", kKeyArn, R"(","Arn":"not an arn"}})"),
           StrCat(R"({"KeyMetadata":{"KeyId":")", kKeyArn, R"("},"SourceKeyId":7})"),
           StrCat(R"({"KeyId":")", kKeyArn, R"(","KeyId":")", kOtherArn, R"("})"),
           StrCat(R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:key\/x","Extra":{"KeyId":")",
                  kOtherArn, R"("}})"),
           std::string(R"({"KeyId":"arn:x:key/"})"),
           std::string(R"({"KeyId":"arn:a:b:c:d:key/e:f"})"),
           std::string(R"({"KeyId":"arn:::::key/"})"),
           std::string(R"({"KeyId":"arn:aws:kms:r:a"})"),
           std::string(R"({"KeyId":"arn:aws:kms:r:\u00e9\"x:key/y"})"),
       }) {
    for (std::string_view operation : {"CreateKey", "Decrypt", "ReEncrypt", "DescribeKey"}) {
      ExpectSameEvent(
          MakeCall(std::string(operation), StrCat(R"({"KeyId":")", kKeyId, R"("})"), response));
    }
  }
}

TEST(AuditEventDifferential, LargeBodies) {
  std::string plaintext(4096 * 4 / 3, 'A');
  ExpectSameEvent(MakeCall("Encrypt",
                           StrCat(R"({"KeyId":"alias/app","Plaintext":")", plaintext, R"("})"),
                           R"({"KeyId":"arn:aws:kms:us-east-1:1:key/k"})"));
  std::string tags = R"({"Tags":[)";
  for (int i = 0; i < 2000; ++i) {
    tags += StrCat(i ? "," : "", R"({"TagKey":"k)", i, R"(","TagValue":"v)", i, R"("})");
  }
  tags += "]}";
  ExpectSameEvent(MakeCall("TagResource", tags));
  std::string context = R"({"EncryptionContext":{)";
  for (int i = 0; i < 2000; ++i) {
    context += StrCat(i ? "," : "", R"(")", (i * 7919) % 2000, R"(":")", i, R"(")");
  }
  context += "}}";
  ExpectSameEvent(MakeCall("Encrypt", context));
}

TEST(AuditEventDifferential, DeepNesting) {
  for (int depth : {1, 2, 10, 100, 1000}) {
    std::string open(depth, '[');
    std::string close(depth, ']');
    ExpectSameEvent(MakeCall("TagResource", StrCat(R"({"Tags":)", open, close, "}")));
    ExpectSameEvent(
        MakeCall("Encrypt", StrCat(R"({"Plaintext":)", open, close, R"(,"KeyId":"k"})")));
    ExpectSameEvent(MakeCall("Encrypt", StrCat(R"({"Plaintext":)", open, close)));
    std::string objects;
    for (int i = 0; i < depth; ++i) objects += R"({"A":)";
    objects += "1";
    objects += std::string(depth, '}');
    ExpectSameEvent(MakeCall("TagResource", StrCat(R"({"Tags":)", objects, "}")));
    ExpectSameEvent(MakeCall("TagResource", StrCat(R"({"EncryptionContext":)", objects, "}")));
  }
}

// Random JSON built from the pieces that matter: allowlisted and near-miss names, names that
// collide once renamed, every escape, valid and invalid UTF-8, every number form, and whitespace;
// then, sometimes, a random byte changed, inserted or cut to reach the parse errors.
class RandomJson {
 public:
  // With secret_names, names are sometimes those the audit drops from a codec's JSON, in any case.
  explicit RandomJson(uint64_t seed, bool secret_names = false)
      : random_(seed), secret_names_(secret_names) {}

  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
  bool OneIn(size_t n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }

  std::string Whitespace() {
    static const std::vector<std::string> spaces = {"", "", "", "", " ", "\n", "\t", "\r\n  "};
    return Pick(spaces);
  }

  std::string StringContent() {
    static const std::vector<std::string> pieces = {"a",
                                                    "Z",
                                                    "key",
                                                    "alias/app",
                                                    " ",
                                                    "/",
                                                    "\\\"",
                                                    "\\\\",
                                                    "\\/",
                                                    "\\b",
                                                    "\\f",
                                                    "\\n",
                                                    "\\r",
                                                    "\\t",
                                                    "\\u0000",
                                                    "\\u001F",
                                                    "\\u0041",
                                                    "\\u00e9",
                                                    "\\u20AC",
                                                    "\\uFFFF",
                                                    "\\uD83D\\uDD11",
                                                    "\\ud800\\udc00",
                                                    "\xc3\xa9",
                                                    "\xe2\x82\xac",
                                                    "\x7f",
                                                    "\xef\xbf\xbd",
                                                    "\xed\x9f\xbf",
                                                    "\xee\x80\x80",
                                                    "\xf0\x9f\x94\x91",
                                                    "\xf4\x8f\xbf\xbf"};
    // Invalid in a JSON string: the whole body fails to parse, so they are rare.
    static const std::vector<std::string> invalid = {
        "\xff", "\xc3", "\x01", "\\x", "\\uD800", "\\uDC00", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    std::string text;
    size_t count = Below(6);
    for (size_t i = 0; i < count; ++i) text += OneIn(60) ? Pick(invalid) : Pick(pieces);
    return text;
  }

  // Key ids, key ARNs (which make resources) and near misses.
  std::string KeyId() {
    static const std::vector<std::string> ids = {
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "1234ABCD-12AB-34CD-56EF-1234567890AB",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-3:444455556666:key/00000000-0000-4000-8000-000000000001",
        "arn:aws:kms:us-east-1:111122223333:alias/app",
        "arn:x:key/",
        "alias/app",
        "1234abcd-12ab-34cd-56ef-1234567890a"};
    return Pick(ids);
  }

  std::string Name(bool top_level) {
    static const std::vector<std::string> names = {"KeyId",
                                                   "EncryptionContext",
                                                   "SourceEncryptionContext",
                                                   "DestinationEncryptionContext",
                                                   "KeySpec",
                                                   "NumberOfBytes",
                                                   "EncryptionAlgorithm",
                                                   "SourceKeyId",
                                                   "DestinationKeyId",
                                                   "AliasName",
                                                   "TargetKeyId",
                                                   "Description",
                                                   "Tags",
                                                   "TagKeys",
                                                   "Limit",
                                                   "Marker",
                                                   "KeyMetadata",
                                                   "DeletionDate",
                                                   "KeyState",
                                                   "Arn",
                                                   "arn",
                                                   "keyId",
                                                   "tags",
                                                   "Plaintext",
                                                   "CiphertextBlob",
                                                   "GrantTokens",
                                                   "Policy",
                                                   "TagKey",
                                                   "tagKey",
                                                   "TagValue",
                                                   "A",
                                                   "a",
                                                   "",
                                                   "K\\u0065yId",
                                                   "\\u004beyId",
                                                   "\xc3\xa9",
                                                   "encryptionContext"};
    if (secret_names_ && OneIn(6)) {
      static const std::vector<std::string> secrets = {
          "SecretAccessKey", "secretAccessKey",  "SESSIONTOKEN", "SessionToken",
          "Password",        "password",         "NewPassword",  "PrivateKey",
          "Plaintext",       "SecretAccessKeyX", "Secret",       "Session\u0054oken",
          "SecurityToken",   "WebIdentityToken"};
      return Pick(secrets);
    }
    if (!top_level && OneIn(4)) return StringContent();
    return Pick(names);
  }

  std::string Number() {
    static const std::vector<std::string> numbers = {"0",
                                                     "-0",
                                                     "1",
                                                     "7",
                                                     "-1",
                                                     "42",
                                                     "1714557600",
                                                     "9223372036854775807",
                                                     "-9223372036854775808",
                                                     "9223372036854775808",
                                                     "-9223372036854775809",
                                                     "18446744073709551615",
                                                     "18446744073709551616",
                                                     "123456789012345678901234567890",
                                                     "1.0",
                                                     "-0.0",
                                                     "0.5",
                                                     "1e2",
                                                     "1E2",
                                                     "1e+2",
                                                     "1e-2",
                                                     "2.5E-1",
                                                     "1.7976931348623157e308",
                                                     "1e308",
                                                     "4.9e-324",
                                                     "1e-400",
                                                     "3.141592653589793",
                                                     "100000000000000000000",
                                                     "0.1",
                                                     "-1.5e10"};
    // Overflowing or malformed: the whole body fails to parse, so they are rare.
    static const std::vector<std::string> invalid = {"1e309", "-1e400", "01", "1.",
                                                     ".5",    "-",      "+1", "1e"};
    return OneIn(60) ? Pick(invalid) : Pick(numbers);
  }

  std::string Value(int depth) {
    size_t kind = depth > 4 ? 2 + Below(5) : Below(7);
    switch (kind) {
      case 0:
        return Object(depth + 1, false);
      case 1:
        return Array(depth + 1);
      case 2:
        return StrCat("\"", KeyId(), "\"");
      case 3:
        return StrCat("\"", StringContent(), "\"");
      case 4:
        return Number();
      case 5: {
        static const std::vector<std::string> literals = {"true", "false", "null"};
        return Pick(literals);
      }
      default:
        return OneIn(2) ? StrCat("\"", std::string(Below(300), 'Q'), "\"") : "{}";
    }
  }

  std::string Array(int depth) {
    std::string text = StrCat("[", Whitespace());
    size_t count = Below(4);
    for (size_t i = 0; i < count; ++i) {
      if (i) text += StrCat(Whitespace(), ",", Whitespace());
      text += Value(depth);
    }
    return StrCat(text, Whitespace(), "]");
  }

  std::string Object(int depth, bool top_level) {
    std::string text = StrCat("{", Whitespace());
    size_t count = Below(top_level ? 8 : 5);
    for (size_t i = 0; i < count; ++i) {
      if (i) text += StrCat(Whitespace(), ",", Whitespace());
      std::string name = Name(top_level);
      // Members that name keys mostly do, so resources are often recorded.
      bool names_key = name.ends_with("KeyId") || name == "Arn" || name == "KeyMetadata";
      std::string value = names_key && !OneIn(3) ? StrCat("\"", KeyId(), "\"") : Value(depth);
      if (name == "KeyMetadata" && OneIn(2)) value = StrCat(R"({"Arn":")", KeyId(), R"("})");
      text += StrCat("\"", name, "\"", Whitespace(), ":", Whitespace(), value);
    }
    return StrCat(text, Whitespace(), "}");
  }

  std::string Body() {
    std::string text;
    if (OneIn(50)) text += "\xef\xbb\xbf";
    text += Whitespace();
    text += OneIn(30) ? Value(1) : Object(1, true);
    text += Whitespace();
    if (OneIn(40)) text += "\0trailing"s;
    if (OneIn(6)) Mutate(text);
    return text;
  }

  void Mutate(std::string& text) {
    if (text.empty()) return;
    size_t at = Below(text.size());
    switch (Below(4)) {
      case 0:
        text[at] = static_cast<char>(Below(256));
        break;
      case 1:
        text.insert(at, 1, "{}[],:\"\\ 0-e.tfn\xff"[Below(17)]);
        break;
      case 2:
        text.erase(at, 1);
        break;
      default:
        text.resize(at);
    }
  }

 private:
  std::mt19937_64 random_;
  bool secret_names_;
};

TEST(AuditEventDifferential, RandomBodies) {
  const std::vector<std::string> operations = {
      "Encrypt",  "Decrypt",   "ReEncrypt",           "GenerateDataKey", "DescribeKey",
      "ListKeys", "CreateKey", "ScheduleKeyDeletion", "TagResource",     "GetKeyRotationStatus",
      "Sign",     ""};
  RandomJson random(20240501);
  constexpr int kRuns = 30000;
  int with_parameters = 0;
  int with_response = 0;
  int with_resources = 0;
  for (int i = 0; i < kRuns; ++i) {
    Call call = MakeCall(random.Pick(operations), random.Body(), random.Body());
    if (random.OneIn(5)) {
      call.status = random.OneIn(2) ? NotFound("no") : Validation("bad \"value\"");
      call.response.clear();
    }
    if (random.OneIn(10)) call.principal.reset();
    ExpectSameEvent(call);
    if (::testing::Test::HasFatalFailure()) return;
    std::string event = BuildEvent(call.Outcome(), kSettings, kNow, kEventId);
    if (event.find(R"("requestParameters":null)") == std::string::npos) ++with_parameters;
    if (event.find(R"("responseElements":null)") == std::string::npos) ++with_response;
    if (event.find(R"("resources":[])") == std::string::npos) ++with_resources;
  }
  RecordProperty("with_parameters", with_parameters);
  RecordProperty("with_response", with_response);
  RecordProperty("with_resources", with_resources);
  // The generator reaches every branch: most bodies parse, enough do not.
  EXPECT_GT(with_parameters, kRuns / 2);
  EXPECT_LT(with_parameters, kRuns * 9 / 10);
  EXPECT_GT(with_response, kRuns / 20);
  EXPECT_GT(with_resources, kRuns / 20);
}

}  // namespace
}  // namespace kmsd::audit

namespace kmsd::audit {
namespace {

Principal WithEveryField(Principal principal, const std::string& text, int64_t created) {
  principal.type = text;
  principal.principal_id = text;
  principal.arn = text;
  principal.account_id = text;
  principal.access_key_id = text;
  principal.user_name = text;
  principal.role_arn = text;
  principal.role_id = text;
  principal.role_name = text;
  principal.session_name = text;
  principal.session_created = created;
  return principal;
}

TEST(AuditEventDifferential, EveryKindOfCaller) {
  const std::vector<Principal> callers = {RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001"),
                                          testing::IamUser(), testing::AssumedRole()};
  for (const Principal& caller : callers) {
    for (const Exchange& exchange : RealisticExchanges()) {
      Call call = MakeCall(exchange.operation, exchange.request, exchange.response);
      call.principal = caller;
      ExpectSameEvent(call);
      call = MakeCall(exchange.operation, exchange.request, "",
                      Error(ErrorType::kAccessDenied, "User: x is not authorized"));
      call.principal = caller;
      ExpectSameEvent(call);
    }
  }
}

// A kind the caller's fields do not agree with (a user without a name, a root with one) is
// written by its kind, and every field is escaped as the reference escapes it.
TEST(AuditEventDifferential, HostileIdentityFields) {
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "quote\" backslash\\ slash/",
                                          "nul\0inside"s,
                                          "\x01\x1f\x7f",
                                          "caf\xc3\xa9 \xf0\x9f\x94\x91",
                                          "\xff\xfe",
                                          "\xc3",
                                          "\xed\xa0\x80"};
  for (PrincipalType kind :
       {PrincipalType::kRoot, PrincipalType::kIamUser, PrincipalType::kAssumedRole}) {
    for (const std::string& text : texts) {
      for (int64_t created : {int64_t{0}, int64_t{-1}, kNow, int64_t{253402300799},
                              int64_t{4102444800}, int64_t{-62135596800}}) {
        Call call = MakeCall("Encrypt", R"({"KeyId":"alias/app"})");
        Principal principal = kind == PrincipalType::kIamUser       ? testing::IamUser()
                              : kind == PrincipalType::kAssumedRole ? testing::AssumedRole()
                                                                    : *call.principal;
        call.principal = WithEveryField(principal, text, created);
        ExpectSameEvent(call);
      }
    }
  }
}

struct QueryExchange {
  std::string service;
  std::string operation;
  std::string parameters;
  std::string elements;
};

// What the IAM and STS codecs hand over for each supported operation.
std::vector<QueryExchange> RealisticQueryExchanges() {
  const std::string user =
      R"({"User":{"Path":"/","UserName":"bob","UserId":"AIDAEXAMPLEBOB000001","Arn":"arn:aws:iam::111122223333:user/bob","CreateDate":"2024-05-01T10:00:00Z","Tags":[{"Key":"team","Value":"payments"}]}})";
  const std::string role =
      R"({"Role":{"Path":"/ci/","RoleName":"deployer","RoleId":"AROAEXAMPLEDEPLOYER1","Arn":"arn:aws:iam::111122223333:role/ci/deployer","CreateDate":"2024-05-01T10:00:00Z","AssumeRolePolicyDocument":"%7B%22Version%22%3A%222012-10-17%22%7D","MaxSessionDuration":3600}})";
  const std::string policy =
      R"({\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]})";
  return {
      {"iam", "CreateUser",
       R"({"UserName":"bob","Path":"/","Tags":[{"Key":"team","Value":"payments"}]})", user},
      {"iam", "GetUser", R"({"UserName":"bob"})", user},
      {"iam", "ListUsers", R"({"PathPrefix":"/","Marker":"m","MaxItems":10})", ""},
      {"iam", "DeleteUser", R"({"UserName":"bob"})", ""},
      {"iam", "CreateAccessKey", R"({"UserName":"bob"})",
       R"({"AccessKey":{"UserName":"bob","AccessKeyId":"AKIAEXAMPLEBOBKEY001","Status":"Active","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","CreateDate":"2024-05-01T10:00:00Z"}})"},
      {"iam", "UpdateAccessKey",
       R"({"UserName":"bob","AccessKeyId":"AKIAEXAMPLEBOBKEY001","Status":"Inactive"})", ""},
      {"iam", "DeleteAccessKey", R"({"UserName":"bob","AccessKeyId":"AKIAEXAMPLEBOBKEY001"})", ""},
      {"iam", "PutUserPolicy",
       StrCat(R"({"UserName":"bob","PolicyName":"encrypt","PolicyDocument":")", policy, R"("})"),
       ""},
      {"iam", "CreateRole",
       StrCat(R"({"RoleName":"deployer","Path":"/ci/","AssumeRolePolicyDocument":")", policy,
              R"(","MaxSessionDuration":3600})"),
       role},
      {"iam", "UpdateAssumeRolePolicy",
       StrCat(R"({"RoleName":"deployer","PolicyDocument":")", policy, R"("})"), ""},
      {"sts", "GetCallerIdentity", "",
       R"({"Account":"111122223333","UserId":"AIDAEXAMPLEALICE0001","Arn":"arn:aws:iam::111122223333:user/alice"})"},
      {"sts", "AssumeRole",
       R"({"RoleArn":"arn:aws:iam::111122223333:role/ci/deployer","RoleSessionName":"build-42","DurationSeconds":3600,"ExternalId":"ext"})",
       R"({"Credentials":{"AccessKeyId":"ASIAEXAMPLESESSION01","SecretAccessKey":"s","SessionToken":"t","Expiration":"2024-05-01T11:00:00Z"},"AssumedRoleUser":{"AssumedRoleId":"AROAEXAMPLEDEPLOYER1:build-42","Arn":"arn:aws:sts::111122223333:assumed-role/deployer/build-42"}})"},
      {"sts", "AssumeRole",
       R"({"roleArn":"arn:aws:iam::444455556666:role/x","RoleArn":"arn:aws:iam::111122223333:role/y"})",
       ""},
      {"sts", "AssumeRole", R"({"RoleArn":"not-an-arn"})", ""},
      {"sts", "AssumeRole", R"({"RoleArn":["arn:aws:iam::111122223333:role/x"],"roleArn":7})", ""},
      {"sts", "AssumeRole", R"({"RoleArn":"arn:aws:iam::111122223333:user/x"})", ""},
  };
}

Call MakeQueryExchangeCall(const QueryExchange& exchange, absl::Status status = absl::OkStatus()) {
  return testing::MakeQueryCall(exchange.service, exchange.operation, "Action=x&SessionToken=t",
                                exchange.parameters, "<xml>SecretAccessKey</xml>",
                                exchange.elements, std::move(status));
}

TEST(AuditEventDifferential, EveryIamAndStsOperationSucceeding) {
  for (const QueryExchange& exchange : RealisticQueryExchanges()) {
    for (const Principal& caller : {RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001"),
                                    testing::IamUser(), testing::AssumedRole()}) {
      Call call = MakeQueryExchangeCall(exchange);
      call.principal = caller;
      ExpectSameEvent(call);
    }
  }
}

TEST(AuditEventDifferential, EveryIamAndStsOperationFailingWithEachErrorKind) {
  for (const QueryExchange& exchange : RealisticQueryExchanges()) {
    for (ErrorType type : ErrorTypes()) {
      ExpectSameEvent(MakeQueryExchangeCall(exchange, Error(type, "failed")));
    }
    for (ErrorType type : {ErrorType::kMalformedPolicyDocument, ErrorType::kExpiredToken,
                           ErrorType::kDeleteConflict, ErrorType::kInvalidClientTokenId}) {
      ExpectSameEvent(MakeQueryExchangeCall(exchange, Error(type, "failed")));
    }
    Call stranger = MakeQueryExchangeCall(exchange, Error(ErrorType::kUnrecognizedClient, "no"));
    stranger.principal.reset();
    stranger.claimed_access_key_id = "AKIAWHOEVER";
    ExpectSameEvent(stranger);
  }
}

TEST(AuditEventDifferential, EventSources) {
  for (std::string source : {"", "kms.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com",
                             "cloudtrail.amazonaws.com", "KMS.amazonaws.com", "q\"\xff"}) {
    for (const Exchange& exchange : RealisticExchanges()) {
      Call call = MakeCall(exchange.operation, exchange.request, exchange.response);
      call.event_source = source;
      ExpectSameEvent(call);
    }
    Call call = MakeQueryExchangeCall(RealisticQueryExchanges()[0]);
    call.event_source = source;
    ExpectSameEvent(call);
  }
}

TEST(AuditEventDifferential, OddCodecJson) {
  for (const std::string& text : OddBodies()) {
    for (std::string_view operation : {"CreateUser", "AssumeRole", "GetUser"}) {
      Call call = testing::MakeQueryCall("iam", std::string(operation), "", text, "", text);
      ExpectSameEvent(call);
      call.principal.reset();
      ExpectSameEvent(call);
    }
  }
}

TEST(AuditEventDifferential, RandomCodecJson) {
  const std::vector<std::string> operations = {"CreateUser", "CreateAccessKey", "AssumeRole",
                                               "GetUser",    "PutRolePolicy",   ""};
  RandomJson random(20240502, /*secret_names=*/true);
  constexpr int kRuns = 20000;
  int with_parameters = 0;
  int with_response = 0;
  for (int i = 0; i < kRuns; ++i) {
    Call call = testing::MakeQueryCall(random.OneIn(2) ? "iam" : "sts", random.Pick(operations),
                                       random.Body(), random.Body(), random.Body(), random.Body());
    if (random.OneIn(5)) {
      call.status = random.OneIn(2) ? Error(ErrorType::kAccessDenied, "denied") : NotFound("no");
      call.response_elements_json.clear();
    }
    if (random.OneIn(10)) call.principal.reset();
    if (random.OneIn(4)) call.request_parameters_json.clear();  // then the body is read
    ExpectSameEvent(call);
    if (::testing::Test::HasFatalFailure()) return;
    std::string event = BuildEvent(call.Outcome(), kSettings, kNow, kEventId);
    if (event.find(R"("requestParameters":null)") == std::string::npos) ++with_parameters;
    if (event.find(R"("responseElements":null)") == std::string::npos) ++with_response;
  }
  RecordProperty("with_parameters", with_parameters);
  RecordProperty("with_response", with_response);
  EXPECT_GT(with_parameters, kRuns / 2);
  EXPECT_GT(with_response, kRuns / 4);
}

}  // namespace
}  // namespace kmsd::audit
