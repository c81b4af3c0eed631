// Parse: what a policy document must be, and how a refusal names the problem. Each malformed row
// asserts the error type and the words that name what is wrong.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kmsd/errors.h"
#include "unit/policy/policy_test_util.h"

namespace kmsd::policy {
namespace {

struct MalformedCase {
  std::string name;
  PolicyKind kind;
  std::string document;
  std::string named_problem;  // the message must contain this
};

// A key policy statement with `extra` members added.
std::string KeyStatement(const std::string& extra) {
  return StrCat(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*")",
      extra.empty() ? "" : ",", extra, "}]}");
}
std::string ConditionOf(const std::string& condition) {
  return KeyStatement(StrCat(R"("Condition":)", condition));
}

std::string Nested(int depth) {
  std::string text = R"({"Version":"2012-10-17","Statement":)";
  for (int i = 0; i < depth; ++i) text += "[";
  for (int i = 0; i < depth; ++i) text += "]";
  return text + "}";
}

const PolicyKind kKey = PolicyKind::kResource;
const PolicyKind kIdentity = PolicyKind::kIdentity;
const PolicyKind kTrust = PolicyKind::kTrust;

std::vector<MalformedCase> MalformedCases() {
  return {
      {"NotJson", kKey, "{\"Statement\": [", "not valid JSON"},
      {"EmptyDocument", kKey, "", "not valid JSON"},
      {"NotAnObject", kKey, "[]", "must be a JSON object, not an array"},
      {"UnknownTopLevelElement", kKey, R"({"Version":"2012-10-17","Statment":[]})",
       "unknown top-level element \"Statment\""},
      {"LowerCaseElementNamesAreUnknown", kKey, R"({"version":"2012-10-17","Statement":[]})",
       "unknown top-level element \"version\""},
      {"UnsupportedVersion", kKey, KeyStatement("").replace(12, 10, "2020-01-01"),
       "Version must be \"2012-10-17\" or \"2008-10-17\", not \"2020-01-01\""},
      {"NoStatement", kKey, R"({"Version":"2012-10-17"})", "has no Statement"},
      {"EmptyStatementArray", kKey, R"({"Version":"2012-10-17","Statement":[]})",
       "Statement is an empty array"},
      {"StatementIsAString", kKey, R"({"Statement":"Allow"})",
       "Statement must be an object or an array of objects, not a string"},
      {"UnknownStatementElement", kKey, KeyStatement(R"("Resources":"*")"),
       "Statement[0]: unknown element \"Resources\""},
      {"MissingEffect", kIdentity, R"({"Statement":[{"Action":"kms:*","Resource":"*"}]})",
       "Statement[0]: Effect is missing"},
      {"BadEffect", kIdentity,
       R"({"Statement":[{"Sid":"S1","Effect":"allow","Action":"kms:*","Resource":"*"}]})",
       "Statement[0] (Sid \"S1\"): Effect must be \"Allow\" or \"Deny\", not \"allow\""},
      {"MissingAction", kIdentity, R"({"Statement":[{"Effect":"Allow","Resource":"*"}]})",
       "Action is missing"},
      {"BothActionAndNotAction", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}]})",
       "both Action and NotAction"},
      {"ActionWithoutService", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"Encrypt","Resource":"*"}]})",
       "Action \"Encrypt\" must be \"*\" or service:action"},
      {"EmptyActionArray", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]})",
       "Action is an empty array"},
      {"ActionIsANumber", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]})",
       "Action must be a string or an array of strings, not a number"},
      {"MissingResource", kIdentity, R"({"Statement":[{"Effect":"Allow","Action":"kms:*"}]})",
       "Resource is missing"},
      {"MissingResourceInAKeyPolicy", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]})",
       "Resource is missing"},
      {"BothResourceAndNotResource", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","NotResource":"*"}]})",
       "both Resource and NotResource"},
      {"ResourceNotAnArn", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"my-key"}]})",
       "Resource \"my-key\" must be \"*\" or an ARN"},
      {"EmptyResourceArray", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":[]}]})",
       "Resource is an empty array"},
      {"PrincipalInAnIdentityPolicy", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]})",
       "Principal is not allowed in an identity-based policy"},
      {"NotPrincipalInAnIdentityPolicy", kIdentity,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]})",
       "NotPrincipal is not allowed in an identity-based policy"},
      {"NoPrincipalInAKeyPolicy", kKey,
       R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
       "Principal is missing"},
      {"NoPrincipalInATrustPolicy", kTrust,
       R"({"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]})", "Principal is missing"},
      {"ResourceInATrustPolicy", kTrust,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}]})",
       "Resource is not allowed in a role trust policy"},
      {"BothPrincipalAndNotPrincipal", kKey,
       KeyStatement(R"("NotPrincipal":{"AWS":"111122223333"})"), "both Principal and NotPrincipal"},
      {"InvalidAwsPrincipal", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}]})",
       "invalid principals: Principal.AWS \"bob\""},
      {"WildcardInsideAPrincipalArn", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}]})",
       "invalid principals: Principal.AWS \"arn:aws:iam::111122223333:user/*\""},
      {"UnknownPrincipalType", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"IAM":"111122223333"},"Action":"kms:*","Resource":"*"}]})",
       "unknown principal type \"IAM\""},
      {"PrincipalStringOtherThanStar", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"111122223333","Action":"kms:*","Resource":"*"}]})",
       "Principal \"111122223333\" must be \"*\" or an object"},
      {"EmptyPrincipalArray", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"}]})",
       "Principal.AWS is an empty array"},
      {"UnknownConditionOperator", kKey,
       ConditionOf(R"({"StringEqualz":{"kms:CallerAccount":"1"}})"),
       "Condition operator \"StringEqualz\" is not supported"},
      {"OperatorNamesAreCaseSensitive", kKey,
       ConditionOf(R"({"stringequals":{"kms:CallerAccount":"1"}})"),
       "Condition operator \"stringequals\" is not supported"},
      {"NullHasNoIfExistsForm", kKey,
       ConditionOf(R"({"NullIfExists":{"kms:CallerAccount":"true"}})"),
       "Condition operator \"NullIfExists\" is not supported"},
      {"UnknownSetQualifier", kKey,
       ConditionOf(R"({"ForSomeValues:StringEquals":{"kms:CallerAccount":"1"}})"),
       "Condition operator \"ForSomeValues:StringEquals\" is not supported"},
      {"ConditionKeyWithoutService", kKey, ConditionOf(R"({"StringEquals":{"CallerAccount":"1"}})"),
       "Condition key \"CallerAccount\" must be prefixed by a service"},
      {"EmptyConditionValueArray", kKey,
       ConditionOf(R"({"StringEquals":{"kms:EncryptionContextKeys":[]}})"),
       "Condition StringEquals kms:EncryptionContextKeys is an empty array"},
      {"ConditionValueIsAnObject", kKey,
       ConditionOf(R"({"StringEquals":{"kms:CallerAccount":{"a":"b"}}})"),
       "has an object where a string, number or boolean belongs"},
      {"NumericValueIsNotANumber", kKey,
       ConditionOf(R"({"NumericEquals":{"kms:NumberOfBytes":"ten"}})"),
       "Condition NumericEquals kms:NumberOfBytes: \"ten\" is not a number"},
      {"NumericValueCannotBeAVariable", kKey,
       ConditionOf(R"({"NumericLessThan":{"kms:NumberOfBytes":"${kms:Limit}"}})"),
       "\"${kms:Limit}\" is not a number"},
      {"DateValueIsNotADate", kKey,
       ConditionOf(R"({"DateLessThan":{"aws:CurrentTime":"2024-13-01"}})"),
       "\"2024-13-01\" is not a date"},
      {"BoolValueIsNotABoolean", kKey, ConditionOf(R"({"Bool":{"aws:SecureTransport":"yes"}})"),
       "\"yes\" must be true or false"},
      {"BadCidr", kKey, ConditionOf(R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}})"),
       "\"203.0.113.0/33\" is not an IPv4 or IPv6 address or CIDR block"},
      {"BadIpAddress", kKey, ConditionOf(R"({"NotIpAddress":{"aws:SourceIp":"203.0.113"}})"),
       "\"203.0.113\" is not an IPv4 or IPv6 address"},
      {"BadIpv6Cidr", kKey, ConditionOf(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/129"}})"),
       "\"2001:db8::/129\" is not an IPv4 or IPv6 address"},
      {"BinaryValueIsNotBase64", kKey, ConditionOf(R"({"BinaryEquals":{"kms:Example":"%%%"}})"),
       "\"%%%\" is not base64"},
      {"ArnValueIsNotAnArn", kKey, ConditionOf(R"({"ArnLike":{"aws:PrincipalArn":"user/bob"}})"),
       "\"user/bob\" is not an ARN"},
      {"NullValueIsNotABoolean", kKey, ConditionOf(R"({"Null":{"kms:CallerAccount":"maybe"}})"),
       "\"maybe\" must be true or false"},
      {"ConditionIsNotAnObject", kKey, ConditionOf(R"(["StringEquals"])"),
       "Condition must be an object, not an array"},
      {"DuplicateSids", kIdentity,
       R"({"Statement":[{"Sid":"Same","Effect":"Allow","Action":"kms:*","Resource":"*"},{"Sid":"Same","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]})",
       "Statement[1]: Sid \"Same\" is also the Sid of Statement[0]"},
      {"SidWithSpacesInAnIamPolicy", kIdentity,
       R"({"Statement":[{"Sid":"Allow all","Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
       "Sid must be alphanumeric"},
      {"SidWithPunctuationInATrustPolicy", kTrust,
       R"({"Statement":[{"Sid":"trust-me","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]})",
       "Sid must be alphanumeric"},
      {"SidIsNotAString", kIdentity,
       R"({"Statement":[{"Sid":1,"Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
       "Sid must be a string"},
      {"StatementIsNotAnObject", kIdentity, R"({"Statement":["Allow"]})",
       "Statement[0]: is a string, not an object"},
      {"DuplicateStatementMember", kIdentity,
       R"({"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
       "names the member \"Effect\" twice in one object"},
      {"DuplicateConditionKey", kKey,
       ConditionOf(R"({"StringEquals":{"kms:CallerAccount":"1","kms:CallerAccount":"2"}})"),
       "names the member \"kms:CallerAccount\" twice"},
      {"ForAllValuesOnAnEncryptionContextPairInAKeyPolicy", kKey,
       ConditionOf(R"({"ForAllValues:StringEquals":{"kms:EncryptionContext:Department":"IT"}})"),
       "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a "
       "single-valued condition key"},
      {"ForAllValuesOnARequestTagInAKeyPolicy", kKey,
       ConditionOf(R"({"ForAllValues:StringEquals":{"aws:RequestTag/Project":"Alpha"}})"),
       "OverlyPermissiveCondition: Using the ForAllValues set operator"},
      {"TooDeeplyNested", kKey, Nested(13), "nests JSON deeper than 12 levels"},
      {"HostileNestingIsRefusedWithoutRecursion", kKey, Nested(15000), "nests JSON deeper than"},
  };
}

class MalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedTest, IsRefusedNamingTheProblem) {
  const MalformedCase& row = GetParam();
  auto policy = Parse(row.document, row.kind, 100000);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(TypeOf(policy.status()), ErrorType::kMalformedPolicyDocument) << policy.status();
  EXPECT_NE(std::string(policy.status().message()).find(row.named_problem), std::string::npos)
      << "message: " << policy.status().message() << "\nexpected to contain: " << row.named_problem;
}

INSTANTIATE_TEST_SUITE_P(MalformedPolicyDocument, MalformedTest,
                         ::testing::ValuesIn(MalformedCases()),
                         [](const auto& info) { return info.param.name; });

TEST(Parse, RefusesAnOversizedDocumentBeforeReadingIt) {
  std::string document(kMaxKeyPolicyBytes + 1, '{');  // not JSON either: size is checked first
  auto policy = Parse(document, PolicyKind::kResource);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(TypeOf(policy.status()), ErrorType::kMalformedPolicyDocument);
  EXPECT_EQ(policy.status().message(), "the policy is 32769 bytes; the limit is 32768");
}

TEST(Parse, AcceptsADocumentOfExactlyTheLimit) {
  std::string document = testing::DefaultKeyPolicy();
  document.append(kMaxKeyPolicyBytes - document.size(), ' ');
  EXPECT_TRUE(Parse(document, PolicyKind::kResource).ok());
}

TEST(Parse, HonoursTheCallersLimit) {
  auto policy = Parse(testing::DefaultKeyPolicy(), PolicyKind::kResource, 100);
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(std::string(policy.status().message()).find("the limit is 100"), std::string::npos);
}

TEST(Parse, KeepsTheDocumentByteForByte) {
  std::string document = testing::DefaultKeyPolicy();
  auto policy = Parse(document, PolicyKind::kResource);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->Document(), document);
  EXPECT_EQ((*policy)->Kind(), PolicyKind::kResource);
}

TEST(Parse, AcceptsNestingUpToTheLimit) {
  // Nested(11) is the Statement's 11 arrays inside the document's object: 12 levels.
  auto policy = Parse(Nested(11), PolicyKind::kResource);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(std::string(policy.status().message()).find("deeper"), std::string::npos)
      << policy.status();
}

TEST(Parse, AcceptsAStatementObjectInsteadOfAnArray) {
  EXPECT_TRUE(Parse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}})",
                    PolicyKind::kIdentity)
                  .ok());
}

TEST(Parse, AcceptsServiceFederatedAndCanonicalUserPrincipals) {
  auto policy = Parse(R"({"Statement":[{"Effect":"Allow","Principal":{
      "Service":["ec2.amazonaws.com"],"Federated":"cognito-identity.amazonaws.com",
      "CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
      "Action":"kms:*","Resource":"*"}]})",
                      PolicyKind::kResource);
  EXPECT_TRUE(policy.ok()) << policy.status();
}

TEST(Parse, ListsTheAwsPrincipalsItNames) {
  auto policy = Parse(R"({"Statement":[
      {"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/bob","*"]},"Action":"kms:*","Resource":"*"},
      {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:sts::111122223333:assumed-role/R/s"]},"Action":"kms:*","Resource":"*"},
      {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]})",
                      PolicyKind::kResource);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->PrincipalArns(),
            (std::vector<std::string>{"arn:aws:iam::111122223333:root",
                                      "arn:aws:iam::111122223333:user/bob",
                                      "arn:aws:sts::111122223333:assumed-role/R/s"}));
}

TEST(Parse, SurvivesEveryTruncationOfAPolicy) {
  // Documents arrive from the network: any prefix must be refused cleanly, never crash.
  std::string document = testing::DefaultKeyPolicy();
  for (size_t size = 0; size < document.size(); ++size) {
    auto policy = Parse(document.substr(0, size), PolicyKind::kResource);
    EXPECT_FALSE(policy.ok()) << size;
  }
}

TEST(Parse, SurvivesRandomDamageToPolicies) {
  // Bytes deleted, inserted and repeated at random (fixed seed) in policies that use every
  // element: each result is refused cleanly or parses and evaluates, and nothing crashes.
  const std::vector<std::string> originals = {
      testing::DefaultKeyPolicy(),
      R"({"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/bob","111122223333"]},"NotAction":["kms:Encrypt","kms:Gen*"],"NotResource":"arn:aws:kms:*:111122223333:key/${aws:username, 'x'}","Condition":{"ForAllValues:StringLikeIfExists":{"kms:EncryptionContextKeys":["a*","${*}b"]},"NumericLessThan":{"kms:NumberOfBytes":64},"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},"Bool":{"aws:SecureTransport":true},"Null":{"kms:GranteePrincipal":"false"},"BinaryEquals":{"kms:X":"QUJD"}}}]})",
  };
  const std::string alphabet = "{}[]\":,*?${}'0123456789aAzZ \\\x01\xff";
  uint64_t state = 0x9E3779B97F4A7C15u;
  auto next = [&state](uint64_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return bound == 0 ? 0 : state % bound;
  };
  RequestContext context = testing::Context(testing::User("bob"), "kms:Decrypt", testing::kKeyArn,
                                            {{"kms:EncryptionContextKeys", {"ab", "${*}b"}},
                                             {"kms:NumberOfBytes", {"32"}},
                                             {"aws:SourceIp", {"10.1.2.3"}}});
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string document = originals[round % originals.size()];
    for (uint64_t edits = 1 + next(3); edits > 0; --edits) {
      size_t at = next(document.size());
      switch (next(3)) {
        case 0:
          document.erase(at, 1 + next(4));
          break;
        case 1:
          document.insert(at, 1, alphabet[next(alphabet.size())]);
          break;
        default:
          document.insert(at, document.substr(at, next(16)));
          break;
      }
    }
    for (PolicyKind kind : {PolicyKind::kResource, PolicyKind::kIdentity, PolicyKind::kTrust}) {
      auto policy = Parse(document, kind);
      if (!policy.ok()) {
        EXPECT_EQ(TypeOf(policy.status()), ErrorType::kMalformedPolicyDocument);
        continue;
      }
      ++parsed;
      Evaluate(**policy, context);
    }
  }
  EXPECT_GT(parsed, 0);  // some damage leaves a valid policy, and those are evaluated too
}

}  // namespace
}  // namespace kmsd::policy
