// The verifier against each kind of tampering: it must fail and name the first place.
#include <gtest/gtest.h>

#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/crypto.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::MakeCall;
using testing::ReadLines;
using testing::WriteLines;

// 24 records over several files, a digest every 5 records and one at shutdown.
class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    options.max_file_bytes = 6000;
    options.digest_every_records = 5;
    auto log = OpenAuditLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 24; ++i) {
      auto call =
          MakeCall(i % 2 ? "Encrypt" : "DescribeKey", StrCat(R"({"KeyId":"alias/k)", i, R"("})"));
      ASSERT_TRUE((*log)->Record(call.Outcome()).ok());
    }
    log->reset();
    files_ = testing::TrailFiles(dir_.audit());
    ASSERT_GE(files_.size(), 3u);
    ASSERT_GE(ReadLines(files_[0]).size(), 4u);
    key_ = *AuditPublicKeyPem(dir_.path());
  }

  VerifyReport Verify(const std::string& key = "") {
    auto report = VerifyTrail(dir_.audit(), key.empty() ? key_ : key);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : VerifyReport{};
  }

  std::string Name(const std::string& path) {
    return std::filesystem::path(path).filename().string();
  }
  std::string Digests() { return dir_.audit() + "/digests.jsonl"; }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::vector<std::string> files_;
  std::string key_;
};

TEST_F(AuditVerifyTest, IntactTrailVerifies) {
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 24);
  EXPECT_EQ(report.last_signed_sequence, 24);
  EXPECT_GE(report.digests, 5);
}

TEST_F(AuditVerifyTest, ModifiedRecordIsNamed) {
  auto lines = ReadLines(files_[0]);
  size_t at = lines[1].find("alias/k1");
  lines[1].replace(at, 8, "alias/k9");
  WriteLines(files_[0], lines);
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "modified");
  EXPECT_EQ(report.file, Name(files_[0]));
  EXPECT_EQ(report.line, 2);
  EXPECT_EQ(report.sequence, 2);
}

TEST_F(AuditVerifyTest, ModifiedLastRecordIsCaughtByTheDigest) {
  auto lines = ReadLines(files_.back());
  lines.back().replace(lines.back().find("alias/k23"), 9, "alias/k99");
  WriteLines(files_.back(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "modified");
  EXPECT_EQ(report.file, Name(files_.back()));
  EXPECT_EQ(report.sequence, 24);
}

TEST_F(AuditVerifyTest, RewrittenChainIsCaughtByTheDigest) {
  // An attacker without the signing key edits record 2 and recomputes every hash after it.
  std::string previous = GenesisHash();
  bool edited = false;
  for (const std::string& file : files_) {
    auto lines = ReadLines(file);
    for (std::string& line : lines) {
      json record = json::parse(line);
      if (record["sequenceNumber"] == 2) {
        record["requestParameters"]["keyId"] = "alias/innocent";
        edited = true;
      }
      record["previousHash"] = crypto::HexEncode(previous);
      line = record.dump();
      previous = ChainHash(previous, line);
    }
    WriteLines(file, lines);
  }
  ASSERT_TRUE(edited);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "modified");
  EXPECT_NE(report.detail.find("from sequence 1 to "), std::string::npos) << report.detail;
}

TEST_F(AuditVerifyTest, DeletedRecordIsNamed) {
  auto lines = ReadLines(files_[0]);
  lines.erase(lines.begin() + 2);
  WriteLines(files_[0], lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.file, Name(files_[0]));
  EXPECT_EQ(report.line, 3);
  EXPECT_EQ(report.sequence, 3);
}

TEST_F(AuditVerifyTest, InsertedRecordIsNamed) {
  auto lines = ReadLines(files_[0]);
  lines.insert(lines.begin() + 2, lines[0]);
  WriteLines(files_[0], lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "inserted");
  EXPECT_EQ(report.file, Name(files_[0]));
  EXPECT_EQ(report.line, 3);
}

TEST_F(AuditVerifyTest, ForgedRecordWithTheNextSequenceIsNamed) {
  auto lines = ReadLines(files_[0]);
  json forged = json::parse(lines[1]);
  forged["eventName"] = "Forged";
  lines.insert(lines.begin() + 2, forged.dump());  // claims sequence 2 again at line 3
  WriteLines(files_[0], lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "inserted");
  EXPECT_EQ(report.line, 3);
}

TEST_F(AuditVerifyTest, ReorderedRecordsAreNamed) {
  auto lines = ReadLines(files_[0]);
  std::swap(lines[1], lines[2]);
  WriteLines(files_[0], lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "reordered");
  EXPECT_EQ(report.file, Name(files_[0]));
  EXPECT_EQ(report.line, 2);
}

TEST_F(AuditVerifyTest, TruncatedTrailIsNamed) {
  auto lines = ReadLines(files_.back());
  lines.pop_back();
  WriteLines(files_.back(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "truncated");
  EXPECT_EQ(report.file, Name(files_.back()));
  EXPECT_EQ(report.sequence, 23);
}

TEST_F(AuditVerifyTest, LineCutMidWayIsNamed) {
  std::string content = testing::ReadAll(files_[1]);
  std::ofstream(files_[1], std::ios::binary | std::ios::trunc)
      << content.substr(0, content.size() - 20);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "truncated");
  EXPECT_EQ(report.file, Name(files_[1]));
  EXPECT_EQ(report.line, static_cast<int64_t>(ReadLines(files_[1]).size()));
}

// What kill -9 leaves: the newest file ends in part of a record that was never acknowledged.
// Not tampering (kmsd cuts it at its next start), but reported.
TEST_F(AuditVerifyTest, TornUnsignedLineAtTheEndOfTheNewestFileIsACrashNotTampering) {
  std::ofstream(files_.back(), std::ios::binary | std::ios::app)
      << R"({"eventVersion":"1.08","userIdentity":{"ty)";
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 24);
  EXPECT_NE(report.torn_tail.find(Name(files_.back())), std::string::npos) << report.torn_tail;
  EXPECT_NE(FormatVerifyReport(report).find("torn line"), std::string::npos);
}

// A signed record cut mid-line is not a crash's leftover: its digest says it was whole.
TEST_F(AuditVerifyTest, SignedLastRecordCutMidLineIsTruncation) {
  std::string content = testing::ReadAll(files_.back());
  std::ofstream(files_.back(), std::ios::binary | std::ios::trunc)
      << content.substr(0, content.size() - 20);
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "truncated");
  EXPECT_EQ(report.line, static_cast<int64_t>(ReadLines(files_.back()).size()));
  EXPECT_EQ(report.sequence, 24);
}

// A complete record changed is tampering even at the very end of the trail.
TEST_F(AuditVerifyTest, ChangedCompleteLastRecordIsTampering) {
  auto lines = ReadLines(files_.back());
  size_t at = lines.back().find("alias/k");
  lines.back().replace(at, 7, "alias/x");
  WriteLines(files_.back(), lines);
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "modified");
  EXPECT_TRUE(report.torn_tail.empty());
}

TEST_F(AuditVerifyTest, TornLastDigestIsACrashNotTampering) {
  std::ofstream(Digests(), std::ios::binary | std::ios::app) << R"({"digestVersion":1,"fir)";
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_NE(report.torn_tail.find("digests.jsonl"), std::string::npos) << report.torn_tail;
}

TEST_F(AuditVerifyTest, DeletedMiddleFileIsNamed) {
  size_t first_of_third = ReadLines(files_[0]).size() + ReadLines(files_[1]).size() + 1;
  std::filesystem::remove(files_[1]);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.file, Name(files_[2]));
  EXPECT_EQ(report.line, 1);
  EXPECT_EQ(report.sequence, static_cast<int64_t>(ReadLines(files_[0]).size()) + 1);
  EXPECT_NE(report.detail.find(StrCat("..", first_of_third - 1)), std::string::npos)
      << report.detail;
}

TEST_F(AuditVerifyTest, DeletedFirstFileIsNamed) {
  std::filesystem::remove(files_[0]);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.sequence, 1);
}

TEST_F(AuditVerifyTest, DeletedLastFileIsTruncation) {
  std::filesystem::remove(files_.back());
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "truncated");
  EXPECT_EQ(report.file, Name(files_[files_.size() - 2]));
}

TEST_F(AuditVerifyTest, ModifiedDigestFailsItsSignature) {
  auto lines = ReadLines(Digests());
  json digest = json::parse(lines[1]);
  digest["lastSequence"] = 1000;
  lines[1] = digest.dump();
  WriteLines(Digests(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "bad-signature");
  EXPECT_EQ(report.file, "digests.jsonl");
  EXPECT_EQ(report.line, 2);
}

TEST_F(AuditVerifyTest, DeletedDigestIsNamed) {
  auto lines = ReadLines(Digests());
  lines.erase(lines.begin() + 1);
  WriteLines(Digests(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.line, 2);
}

TEST_F(AuditVerifyTest, ReorderedDigestsAreNamed) {
  auto lines = ReadLines(Digests());
  std::swap(lines[1], lines[2]);
  WriteLines(Digests(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "reordered");
  EXPECT_EQ(report.line, 2);
}

TEST_F(AuditVerifyTest, DuplicatedDigestIsNamed) {
  auto lines = ReadLines(Digests());
  lines.insert(lines.begin() + 2, lines[1]);
  WriteLines(Digests(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "inserted");
  EXPECT_EQ(report.line, 3);
}

TEST_F(AuditVerifyTest, RemovedDigestFileIsNamed) {
  std::filesystem::remove(Digests());
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.file, "digests.jsonl");
}

TEST_F(AuditVerifyTest, RemovedLastDigestsAreNamed) {
  auto lines = ReadLines(Digests());
  lines.resize(1);
  WriteLines(Digests(), lines);
  VerifyReport report = Verify();
  EXPECT_EQ(report.problem, "deleted");
  EXPECT_EQ(report.file, "digests.jsonl");
}

TEST_F(AuditVerifyTest, AnotherKeyIsRejected) {
  testing::TempDir other;
  AuditOptions options;
  options.data_dir = other.path();
  ASSERT_TRUE(OpenAuditLog(options).ok());
  VerifyReport report = Verify(*AuditPublicKeyPem(other.path()));
  EXPECT_EQ(report.problem, "bad-signature");
  EXPECT_EQ(report.line, 1);
}

TEST_F(AuditVerifyTest, GarbageKeyIsAnError) {
  EXPECT_FALSE(VerifyTrail(dir_.audit(), "not a key").ok());
}

TEST_F(AuditVerifyTest, FormatNamesThePlace) {
  std::filesystem::remove(files_.back());
  std::string text = FormatVerifyReport(Verify());
  EXPECT_NE(text.find("truncated at " + Name(files_[files_.size() - 2]) + " line "),
            std::string::npos)
      << text;
}

// Records of IAM and STS calls by users and role sessions: one line each, chained and signed like
// any other, and the verifier reads them.
class AuditVerifyIdentitiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    auto log = OpenAuditLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    auto user_call =
        testing::MakeQueryCall("iam", "CreateUser", "Action=CreateUser&UserName=bob",
                               R"({"UserName":"bob"})", "<xml/>", R"({"User":{"UserName":"bob"}})");
    user_call.principal = testing::IamUser();
    auto session_call = MakeCall("Encrypt", R"({"KeyId":"alias/app","Plaintext":"eA=="})");
    session_call.principal = testing::AssumedRole();
    auto denied = testing::MakeQueryCall(
        "sts", "AssumeRole", "", R"({"RoleArn":"arn:aws:iam::111122223333:role/ci/deployer"})", "",
        "", Error(ErrorType::kAccessDenied, "User: alice is not authorized"));
    for (const testing::Call* call : {&user_call, &session_call, &denied}) {
      ASSERT_TRUE((*log)->Record(call->Outcome()).ok());
    }
    log->reset();
    key_ = *AuditPublicKeyPem(dir_.path());
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::string key_;
};

TEST_F(AuditVerifyIdentitiesTest, IamStsAndRoleSessionRecordsVerify) {
  auto report = VerifyTrail(dir_.audit(), key_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << FormatVerifyReport(*report);
  EXPECT_EQ(report->records, 3);
  EXPECT_EQ(report->last_signed_sequence, 3);
}

TEST_F(AuditVerifyIdentitiesTest, AChangedSessionIssuerIsCaught) {
  std::string file = testing::TrailFiles(dir_.audit())[0];
  auto lines = ReadLines(file);
  ASSERT_EQ(lines.size(), 3u);
  size_t at = lines[1].find(R"("userName":"deployer")");
  ASSERT_NE(at, std::string::npos);
  lines[1].replace(at, 21, R"("userName":"someone!")");
  WriteLines(file, lines);
  auto report = VerifyTrail(dir_.audit(), key_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->problem, "modified");
  EXPECT_EQ(report->sequence, 2);
}

}  // namespace
}  // namespace kmsd::audit
