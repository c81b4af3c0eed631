// kms decrypt's --key-id check: key ARNs pass; the other three ways of naming a key are refused
// with a message that says which one was given and how to find the key ARN.
#include <gtest/gtest.h>

#include <string>

#include "kmsd/errors.h"
#include "kmsd/kms_client.h"

namespace kmsd::client {
namespace {

constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

std::string Refusal(const std::string& key_id) {
  absl::Status status = RequireKeyArn(key_id);
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation) << key_id;
  return std::string(status.message());
}

TEST(RequireKeyArn, AcceptsKeyArnsOfAnyPartition) {
  EXPECT_TRUE(RequireKeyArn(kKeyArn).ok());
  EXPECT_TRUE(RequireKeyArn("arn:aws-cn:kms:cn-north-1:111122223333:key/k").ok());
}

TEST(RequireKeyArn, RefusesAnAliasNameSayingAKeyArnIsRequired) {
  std::string message = Refusal("alias/x");
  EXPECT_NE(message.find("wants a key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY_ID)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("'alias/x' is an alias name"), std::string::npos) << message;
  EXPECT_NE(message.find("aws kms describe-key --key-id alias/x"), std::string::npos) << message;
}

TEST(RequireKeyArn, NamesAliasArnsKeyIdsAndOtherArns) {
  EXPECT_NE(Refusal("arn:aws:kms:us-east-1:111122223333:alias/x").find("is an alias ARN"),
            std::string::npos);
  EXPECT_NE(Refusal("1234abcd-12ab-34cd-56ef-1234567890ab").find("is a key id"), std::string::npos);
  EXPECT_NE(Refusal("arn:aws:s3:::bucket").find("is not a KMS key ARN"), std::string::npos);
  EXPECT_NE(Refusal("arn:aws:kms:us-east-1:111122223333:key/").find("is not a KMS key ARN"),
            std::string::npos);
  Refusal("");
}

}  // namespace
}  // namespace kmsd::client
