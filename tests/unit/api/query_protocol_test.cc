// The Query protocol's pieces on their own: form decoding of hostile input, the reader's checks in
// AWS's words, XML escaping, and the answer tree's two renderings.
#include <gtest/gtest.h>

#include "api/query/form.h"
#include "api/query/node.h"
#include "api/query/query_codec.h"
#include "api/query/query_reader.h"
#include "api/query/xml_writer.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::query {
namespace {

FormParameters Form(std::string_view text) {
  FormParameters parameters;
  absl::Status status = ParseForm(text, parameters);
  EXPECT_TRUE(status.ok()) << status;
  return parameters;
}

absl::Status FormError(std::string_view text) {
  FormParameters parameters;
  return ParseForm(text, parameters);
}

std::string Escaped(std::string_view text) {
  std::string out;
  AppendXmlEscaped(out, text);
  return out;
}

TEST(Form, DecodesPercentEscapesAndPlusAsSpace) {
  FormParameters form = Form("Action=CreateUser&UserName=a%2Bb+c%26d%3D&Empty=&Bare");
  EXPECT_EQ(form["Action"], "CreateUser");
  EXPECT_EQ(form["UserName"], "a+b c&d=");
  EXPECT_EQ(form["Empty"], "");
  EXPECT_EQ(form["Bare"], "");
}

TEST(Form, DecodesEscapedNamesAndBytes) {
  FormParameters form = Form("Tags.member.1.Key=%E2%82%AC&%41ction=x&Nul=%00");
  EXPECT_EQ(form["Tags.member.1.Key"], "\xE2\x82\xAC");
  EXPECT_EQ(form["Action"], "x");
  EXPECT_EQ(form["Nul"], std::string(1, '\0'));
}

TEST(Form, SkipsEmptyPieces) {
  FormParameters form = Form("&&A=1&&B=2&");
  EXPECT_EQ(form.size(), 2u);
}

TEST(Form, RefusesMalformedEscapes) {
  for (std::string_view text : {"A=%", "A=%4", "A=%G1", "A=%1G", "%ZZ=1", "A=%%41"}) {
    EXPECT_EQ(TypeOf(FormError(text)), ErrorType::kSerialization) << text;
  }
}

TEST(Form, RefusesANameGivenTwice) {
  EXPECT_EQ(TypeOf(FormError("A=1&A=2")), ErrorType::kSerialization);
  EXPECT_EQ(TypeOf(FormError("A=1&%41=2")), ErrorType::kSerialization);
}

TEST(Form, RefusesEmptyAndOverlongNames) {
  EXPECT_EQ(TypeOf(FormError("=value")), ErrorType::kSerialization);
  EXPECT_EQ(TypeOf(FormError(StrCat(std::string(kMaxParameterNameLength + 1, 'a'), "=1"))),
            ErrorType::kSerialization);
}

TEST(Form, RefusesTooManyParameters) {
  std::string text;
  for (size_t i = 0; i <= kMaxParameters; ++i) text += StrCat("P", i, "=1&");
  EXPECT_EQ(TypeOf(FormError(text)), ErrorType::kSerialization);
}

TEST(Form, RefusesTooLongABody) {
  EXPECT_EQ(TypeOf(FormError(StrCat("A=", std::string(kMaxFormBytes, 'x')))),
            ErrorType::kSerialization);
}

TEST(Form, FindFormValueReadsOneParameterOnly) {
  EXPECT_EQ(FindFormValue("Version=1&Action=Get%55ser", "Action"), "GetUser");
  EXPECT_EQ(FindFormValue("Version=1", "Action"), std::nullopt);
  EXPECT_EQ(FindFormValue("Action=%ZZ", "Action"), std::nullopt);
  EXPECT_EQ(FindFormValue("%ZZ=1&Action=GetUser", "Action"), "GetUser");
}

TEST(Form, PercentEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(PercentEncode(R"({"a": "b~c-d_e.f/*"})"), "%7B%22a%22%3A%20%22b~c-d_e.f%2F%2A%22%7D");
  EXPECT_EQ(PercentEncode("\xE2\x82\xAC"), "%E2%82%AC");
}

TEST(QueryReader, ReportsEveryViolationTogetherInAwsWords) {
  QueryReader request(Form("UserName=a+b&Path=nopath"));
  request.String("UserName", kUserNameRule, true);
  request.String("Path", kPathRule);
  request.String("PolicyName", kPolicyNameRule, true);
  absl::Status status = request.Finish();
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  EXPECT_EQ(status.message(),
            "3 validation errors detected: Value 'a b' at 'userName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; Value "
            "'nopath' at 'path' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); Value null at "
            "'policyName' failed to satisfy constraint: Member must not be null");
}

TEST(QueryReader, CountsLengthsInCharacters) {
  // 64 two-byte characters are 64 characters: within a 1..64 rule whose pattern allows them.
  std::string sixty_four(64 * 2, '\0');
  for (size_t i = 0; i < sixty_four.size(); i += 2) {
    sixty_four[i] = '\xC3';
    sixty_four[i + 1] = '\xA9';
  }
  QueryReader request(FormParameters{{"Tag", sixty_four}});
  EXPECT_TRUE(request.String("Tag", StringRule{1, 64, "", IsTagText}).has_value());
  EXPECT_TRUE(request.Finish().ok());
}

TEST(QueryReader, RefusesInvalidUtf8) {
  QueryReader request(FormParameters{{"Description", "\xC3"}});
  EXPECT_FALSE(request.String("Description", kRoleDescriptionRule).has_value());
  EXPECT_EQ(TypeOf(request.Finish()), ErrorType::kValidation);
}

TEST(QueryReader, IntegersMustBeDigitsWithinTheRange) {
  for (std::string_view text : {"abc", "1.5", "", "99999999999999999999", "+5"}) {
    QueryReader request(FormParameters{{"MaxItems", std::string(text)}});
    EXPECT_FALSE(request.Integer("MaxItems", 1, 1000).has_value()) << text;
    EXPECT_EQ(TypeOf(request.Finish()), ErrorType::kValidation) << text;
  }
  QueryReader request(FormParameters{{"MaxItems", "1001"}});
  request.Integer("MaxItems", 1, 1000);
  EXPECT_EQ(request.Finish().message(),
            "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000");
}

TEST(QueryReader, ReadsTagsFromTheQueryListEncoding) {
  QueryReader request(
      Form("Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a"
           "&Tags.member.1.Value=1&Tags.member.10.Key=c&Tags.member.10.Value="));
  std::vector<Tag> tags = request.Tags("Tags", 50);
  ASSERT_TRUE(request.Finish().ok()) << request.Finish();
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].key, "a");
  EXPECT_EQ(tags[1].key, "b");
  EXPECT_EQ(tags[2].key, "c");
  EXPECT_EQ(tags[2].value, "");
}

TEST(QueryReader, RefusesHostileTagIndexesAndFields) {
  for (std::string_view text :
       {"Tags.member.0.Key=a&Tags.member.0.Value=b", "Tags.member.99999.Key=a",
        "Tags.member.x.Key=a", "Tags.member.1.Other=a", "Tags.member.1=a", "Tags.member.1.Key=a"}) {
    QueryReader request(Form(text));
    request.Tags("Tags", 50);
    EXPECT_EQ(TypeOf(request.Finish()), ErrorType::kValidation) << text;
  }
}

TEST(QueryReader, RefusesMoreTagsThanTheModelAllows) {
  std::string text;
  for (int i = 1; i <= 51; ++i) text += StrCat("Tags.member.", i, ".Key=k", i, "&");
  QueryReader request(Form(text));
  request.Tags("Tags", 50);
  EXPECT_EQ(TypeOf(request.Finish()), ErrorType::kValidation);
}

TEST(QueryReader, EchoesLongValuesShortened) {
  QueryReader request(FormParameters{{"UserName", std::string(1000, ' ')}});
  request.String("UserName", kUserNameRule);
  EXPECT_LT(request.Finish().message().size(), 400u);
}

TEST(XmlEscaping, EscapesTheMarkupCharacters) {
  EXPECT_EQ(Escaped(R"(<a href="x">'&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
}

TEST(XmlEscaping, KeepsTabsAndNewlinesAndReferencesCarriageReturns) {
  EXPECT_EQ(Escaped("a\tb\nc\rd"), "a\tb\nc&#13;d");
}

TEST(XmlEscaping, ReplacesWhatXmlCannotCarry) {
  EXPECT_EQ(Escaped(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(Escaped("\x01\x1F"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Escaped("\xFF"), "\xEF\xBF\xBD");                                  // not UTF-8
  EXPECT_EQ(Escaped("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(Escaped("\xEF\xBF\xBE"), "\xEF\xBF\xBD");                          // U+FFFE
  EXPECT_EQ(Escaped("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // truncated
}

TEST(XmlEscaping, KeepsValidUtf8) {
  EXPECT_EQ(Escaped("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x94\x91"),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x94\x91");
}

TEST(XmlWriter, WritesNestedElementsWithANamespace) {
  XmlWriter writer;
  writer.Open("R", "urn:x").Element("A", "1<2").Close("R");
  EXPECT_EQ(writer.Take(), R"(<R xmlns="urn:x"><A>1&lt;2</A></R>)");
}

TEST(Node, ListsAreMembersInXmlAndArraysInTheAudit) {
  Node result = Node::Struct("ListUsersResult");
  Node& users = result.Add(Node::List("Users"));
  users.Add(Node::Struct("member")).Add(Node::Text("UserName", "a"));
  users.Add(Node::Struct("member")).Add(Node::Text("UserName", "b"));
  result.Add(Node::Boolean("IsTruncated", false));
  XmlWriter writer;
  result.WriteXml(writer);
  EXPECT_EQ(writer.Take(),
            "<ListUsersResult><Users><member><UserName>a</UserName></member><member><UserName>b"
            "</UserName></member></Users><IsTruncated>false</IsTruncated></ListUsersResult>");
  EXPECT_EQ(result.AuditJson().dump(),
            R"({"isTruncated":false,"users":[{"userName":"a"},{"userName":"b"}]})");
}

TEST(Node, SecretsAreInTheXmlAndNeverInTheAudit) {
  Node result = Node::Struct("CreateAccessKeyResult");
  Node& key = result.Add(Node::Struct("AccessKey"));
  key.Add(Node::Text("AccessKeyId", "AKIAEXAMPLE"));
  key.Add(Node::Secret("SecretAccessKey", SecretBytes::FromString("s3cr3t")));
  XmlWriter writer;
  result.WriteXml(writer);
  EXPECT_NE(writer.Take().find("<SecretAccessKey>s3cr3t</SecretAccessKey>"), std::string::npos);
  std::string audit = result.AuditJson().dump();
  EXPECT_EQ(audit, R"({"accessKey":{"accessKeyId":"AKIAEXAMPLE"}})");
}

TEST(Node, PolicyDocumentsAreUrlEncodedInTheXmlOnly) {
  Node result = Node::Struct("R");
  result.Add(Node::PolicyDocument("PolicyDocument", R"({"a":1})"));
  XmlWriter writer;
  result.WriteXml(writer);
  EXPECT_EQ(writer.Take(), "<R><PolicyDocument>%7B%22a%22%3A1%7D</PolicyDocument></R>");
  EXPECT_EQ(result.AuditJson().dump(), R"({"policyDocument":"{\"a\":1}"})");
}

TEST(AuditParameters, RecordsTheNamedMembersInLowerCamelCase) {
  FormParameters form = Form(
      "Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2F&Tags.member.2.Key=b"
      "&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1&Unknown=x");
  EXPECT_EQ(AuditParameters(form, {"Path", "UserName", "Tags"}),
            R"({"path":"/","tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}],)"
            R"("userName":"bob"})");
}

TEST(AuditParameters, RecordsIntegersAsNumbers) {
  EXPECT_EQ(AuditParameters(Form("MaxItems=10&Marker=m"), {"Marker", "MaxItems"}),
            R"({"marker":"m","maxItems":10})");
}

TEST(AuditParameters, IsNullWhenThereIsNothingToRecord) {
  EXPECT_EQ(AuditParameters(Form("Action=GetCallerIdentity"), {}), "null");
}

TEST(AuditParameters, SurvivesCollidingAndHostileShapes) {
  FormParameters form = Form(
      "Tags=x&Tags.member.1.Key=a&Tags.member.99999999.Key=b&Tags.member..Key=c"
      "&Tags.member.1=d&UserName=%FF");
  std::string audit = AuditParameters(form, {"Tags", "UserName"});
  EXPECT_EQ(audit, "{\"tags\":\"x\",\"userName\":\"\xEF\xBF\xBD\"}") << audit;
}

TEST(Form, RandomBytesNeverBreakTheReaders) {
  // Bodies built from the characters that matter to the parsers, in random order.
  static constexpr char kCharacters[] = "=&%+.0123456789ABKeyValuemembrTags\xFF\x00";
  constexpr std::string_view kAlphabet(kCharacters, sizeof(kCharacters) - 1);
  uint64_t state = 42;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  for (int round = 0; round < 3000; ++round) {
    std::string body;
    size_t length = next() % 200;
    for (size_t i = 0; i < length; ++i)
      body.push_back(kAlphabet[(next() >> 33) % kAlphabet.size()]);
    FormParameters parameters;
    if (!ParseForm(body, parameters).ok()) continue;
    QueryReader request(parameters);
    request.Tags("Tags", 50);
    request.String("UserName", kUserNameRule);
    request.Integer("MaxItems", 1, 1000);
    (void)request.Finish();
    std::string audit = AuditParameters(parameters, {"Tags", "UserName", "MaxItems"});
    EXPECT_FALSE(audit.empty());
    std::string escaped;
    for (const auto& [name, value] : parameters) AppendXmlEscaped(escaped, value);
  }
}

}  // namespace
}  // namespace kmsd::api::query
