// RequestReader: the service model's shapes and constraints, in AWS's words.
#include "api/request_reader.h"

#include <gtest/gtest.h>

#include "api/json_writer.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api {
namespace {

RequestReader Read(std::string_view body) {
  auto reader = RequestReader::Parse(body);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return std::move(*reader);
}

TEST(RequestReader, EmptyBodyIsAnEmptyObject) {
  RequestReader reader = Read("");
  EXPECT_FALSE(reader.Has("KeyId"));
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(RequestReader, MalformedBodiesAreSerializationErrors) {
  for (std::string_view body : {"{", "[]", "1", "\"s\"", "{\"a\":}", "nul"}) {
    EXPECT_EQ(TypeOf(RequestReader::Parse(body).status()), ErrorType::kSerialization) << body;
  }
}

TEST(RequestReader, DeepNestingIsRefusedBeforeParsing) {
  std::string body = "{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_EQ(TypeOf(RequestReader::Parse(body).status()), ErrorType::kSerialization);
}

TEST(RequestReader, BracketsInsideStringsDoNotCountAsNesting) {
  std::string body = "{\"Description\":\"" + std::string(100, '[') + "\\\"\"}";
  EXPECT_TRUE(RequestReader::Parse(body).ok());
}

TEST(RequestReader, MissingRequiredMembersAreReportedTogether) {
  RequestReader reader = Read("{}");
  reader.String("KeyId", kKeyIdRule, true);
  reader.Blob("Plaintext", 1, 4096, true);
  absl::Status status = reader.Finish();
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  EXPECT_EQ(status.message(),
            "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: "
            "Member must not be null; Value null at 'plaintext' failed to satisfy constraint: "
            "Member must not be null");
}

TEST(RequestReader, WrongTypeIsSerializationError) {
  RequestReader reader = Read(R"({"KeyId": 7})");
  reader.String("KeyId", kKeyIdRule, true);
  EXPECT_EQ(TypeOf(reader.Finish()), ErrorType::kSerialization);
}

TEST(RequestReader, LengthPatternRangeAndEnumViolations) {
  RequestReader reader = Read(
      R"({"KeyId": "", "AliasName": "alias/bad name", "Limit": 1001, "KeySpec": "AES_512"})");
  reader.String("KeyId", kKeyIdRule);
  reader.String("AliasName", kAliasNameRule);
  reader.Integer("Limit", 1, 1000);
  reader.Enum("KeySpec", {"AES_256", "AES_128"});
  absl::Status status = reader.Finish();
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  std::string message(status.message());
  EXPECT_NE(message.find("4 validation errors"), std::string::npos) << message;
  EXPECT_NE(message.find("length greater than or equal to 1"), std::string::npos);
  EXPECT_NE(message.find("regular expression pattern"), std::string::npos);
  EXPECT_NE(message.find("less than or equal to 1000"), std::string::npos);
  EXPECT_NE(message.find("enum value set: [AES_256, AES_128]"), std::string::npos);
}

TEST(RequestReader, OversizeBlobIsNotEchoed) {
  RequestReader reader = Read(R"({"Plaintext": ")" + std::string(5464, 'Q') + "\"}");
  EXPECT_FALSE(reader.Blob("Plaintext", 1, 4096, true).has_value());
  absl::Status status = reader.Finish();
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  EXPECT_EQ(std::string(status.message()).find("QQQQ"), std::string::npos);
}

TEST(RequestReader, BlobDecodesBase64) {
  RequestReader reader = Read(R"({"Plaintext": "aGVsbG8="})");
  auto blob = reader.Blob("Plaintext", 1, 4096, true);
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(blob->view(), "hello");
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(RequestReader, InvalidBase64IsSerializationError) {
  RequestReader reader = Read(R"({"Plaintext": "a$b"})");
  reader.Blob("Plaintext", 1, 4096, true);
  EXPECT_EQ(TypeOf(reader.Finish()), ErrorType::kSerialization);
}

TEST(RequestReader, ContextMustBeAMapOfStrings) {
  RequestReader good = Read(R"({"EncryptionContext": {"b": "2", "a": "1"}})");
  EXPECT_EQ(good.Context("EncryptionContext"), (EncryptionContext{{"a", "1"}, {"b", "2"}}));
  RequestReader bad = Read(R"({"EncryptionContext": {"a": 1}})");
  bad.Context("EncryptionContext");
  EXPECT_EQ(TypeOf(bad.Finish()), ErrorType::kSerialization);
}

TEST(RequestReader, TagsAreReadAndChecked) {
  RequestReader reader =
      Read(R"({"Tags": [{"TagKey": "team", "TagValue": ""}, {"TagKey": "", "TagValue": "x"}]})");
  auto tags = reader.Tags("Tags");
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0].key, "team");
  EXPECT_EQ(TypeOf(reader.Finish()), ErrorType::kValidation);
}

TEST(RequestReader, TagViolationsNameTheTagByItsOneBasedPosition) {
  RequestReader reader = Read(
      R"({"Tags": [{"TagKey": "team", "TagValue": "a"}, {"TagKey": "team2", "TagValue": ""}, )"
      R"({"TagKey": "", "TagValue": "x"}]})");
  reader.Tags("Tags");
  absl::Status status = reader.Finish();
  EXPECT_NE(ToStd(status.message()).find("at 'tags.3.member.tagKey' failed to satisfy constraint"),
            std::string::npos)
      << status.message();
}

TEST(RequestReader, GrantTokensAreReturnedAndCheckedWithoutEcho) {
  RequestReader reader = Read(R"({"GrantTokens":["a","b"]})");
  EXPECT_EQ(reader.GrantTokens(), (GrantTokens{"a", "b"}));
  EXPECT_TRUE(reader.Finish().ok());
  RequestReader empty_token = Read(R"({"GrantTokens":[""]})");
  empty_token.GrantTokens();
  EXPECT_EQ(TypeOf(empty_token.Finish()), ErrorType::kValidation);
  RequestReader eleven = Read(R"({"GrantTokens":["1","2","3","4","5","6","7","8","9","10","11"]})");
  eleven.GrantTokens();
  EXPECT_EQ(TypeOf(eleven.Finish()), ErrorType::kValidation);
}

TEST(RequestReader, GrantConstraintsAreTwoOptionalStringMaps) {
  RequestReader reader =
      Read(R"({"Constraints":{"EncryptionContextSubset":{"a":"1"},"EncryptionContextEquals":{}}})");
  GrantConstraints constraints = reader.Constraints("Constraints");
  EXPECT_TRUE(reader.Finish().ok());
  EXPECT_EQ(constraints.encryption_context_subset, (EncryptionContext{{"a", "1"}}));
  EXPECT_EQ(constraints.encryption_context_equals, EncryptionContext{});
  RequestReader none = Read("{}");
  EXPECT_FALSE(none.Constraints("Constraints").encryption_context_subset.has_value());
  RequestReader wrong = Read(R"({"Constraints":{"EncryptionContextSubset":{"a":1}}})");
  wrong.Constraints("Constraints");
  EXPECT_EQ(TypeOf(wrong.Finish()), ErrorType::kSerialization);
}

TEST(RequestReader, EnumListReportsEachValueOutsideTheEnum) {
  RequestReader reader = Read(R"({"Operations":["Encrypt","Fly"]})");
  EXPECT_EQ(reader.EnumList("Operations", {"Encrypt", "Decrypt"}),
            (std::vector<std::string>{"Encrypt", "Fly"}));
  absl::Status status = reader.Finish();
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  EXPECT_NE(status.message().find("Value 'Fly' at 'operations'"), std::string_view::npos);
}

TEST(RequestReader, PolicyTextIsTabNewlineReturnAndU0020ToU00FF) {
  EXPECT_TRUE(IsPolicyText("{\n\t\"a\" : \"\xc3\xa9\"\r\n}"));
  EXPECT_FALSE(IsPolicyText("\x01"));
  EXPECT_FALSE(IsPolicyText("\xe2\x82\xac"));  // U+20AC is past U+00FF
  EXPECT_TRUE(IsPolicyNameText("default"));
  EXPECT_FALSE(IsPolicyNameText("de-fault"));
  EXPECT_TRUE(IsPrincipalIdText("arn:aws:iam::111122223333:user/a.b+c=d,e@f_g-h"));
  EXPECT_FALSE(IsPrincipalIdText("arn aws"));
}

TEST(JsonWriter, WritesEscapedStringsNumbersAndBase64) {
  SecretBytes secret = SecretBytes::FromString("hi!");
  std::string json = JsonWriter()
                         .BeginObject()
                         .String("a", "q\"\\\n\x01")
                         .Integer("n", -5)
                         .Boolean("t", true)
                         .Blob("b", secret)
                         .BeginArray("l")
                         .String("x")
                         .String("y")
                         .EndArray()
                         .EndObject()
                         .Take();
  EXPECT_EQ(json, R"({"a":"q\"\\\n\u0001","n":-5,"t":true,"b":"aGkh","l":["x","y"]})");
  auto parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["a"], "q\"\\\n\x01");
}

TEST(JsonWriter, Base64PaddingForEveryRemainder) {
  EXPECT_EQ(JsonWriter().BeginObject().Blob("b", std::string_view("a")).EndObject().Take(),
            R"({"b":"YQ=="})");
  EXPECT_EQ(JsonWriter().BeginObject().Blob("b", std::string_view("ab")).EndObject().Take(),
            R"({"b":"YWI="})");
  EXPECT_EQ(JsonWriter().BeginObject().Blob("b", std::string_view("abc")).EndObject().Take(),
            R"({"b":"YWJj"})");
}

}  // namespace
}  // namespace kmsd::api

// DateType members (ImportKeyMaterial's ValidTo, issue 13): epoch seconds, whole or fractional.
namespace kmsd::api {
namespace {

TEST(RequestReaderTimestamp, ReadsWholeAndFractionalEpochSeconds) {
  RequestReader reader = Read(R"({"A": 1767225600, "B": 1767225600.75, "C": -0.5})");
  EXPECT_EQ(reader.Timestamp("A"), 1767225600);
  EXPECT_EQ(reader.Timestamp("B"), 1767225600);
  EXPECT_EQ(reader.Timestamp("C"), -1);
  EXPECT_FALSE(reader.Timestamp("Missing").has_value());
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(RequestReaderTimestamp, RefusesDatesBeyondYear9999AndStrings) {
  RequestReader huge = Read(R"({"A": 1e300, "B": 18446744073709551615, "C": 253402300799})");
  EXPECT_FALSE(huge.Timestamp("A").has_value());
  EXPECT_FALSE(huge.Timestamp("B").has_value());
  EXPECT_EQ(huge.Timestamp("C"), 253402300799);
  EXPECT_EQ(TypeOf(huge.Finish()), ErrorType::kSerialization);
  RequestReader text = Read(R"({"ValidTo": "2026-01-01"})");
  EXPECT_FALSE(text.Timestamp("ValidTo").has_value());
  EXPECT_EQ(TypeOf(text.Finish()), ErrorType::kSerialization);
}

}  // namespace
}  // namespace kmsd::api
