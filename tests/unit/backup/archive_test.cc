// The backup file format: what is encoded decodes unchanged, and any damage (a flipped bit
// anywhere, truncation, extra bytes, a recomputed trailer over an altered file) is refused.
#include <gtest/gtest.h>

#include "kmsd/backup.h"
#include "kmsd/crypto.h"

namespace kmsd::backup {
namespace {

Manifest SampleManifest() {
  Manifest manifest;
  manifest.kmsd_version = "0.1.0";
  manifest.created_at = "2024-05-01T10:00:00Z";
  manifest.source_host = "host";
  manifest.source_data_dir = "/var/lib/kmsd";
  return manifest;
}

std::vector<ArchiveFile> SampleFiles() {
  std::vector<ArchiveFile> files;
  files.push_back({"kmsd.db", SecretBytes::FromString(std::string("SQLite format 3\0db", 18))});
  files.push_back({"root-credentials", SecretBytes::FromString("AKIAEXAMPLE\nsecret\n")});
  files.push_back({"empty", SecretBytes()});
  return files;
}

std::string Encoded() {
  auto encoded = EncodeArchive(SampleManifest(), SampleFiles());
  EXPECT_TRUE(encoded.ok()) << encoded.status();
  return std::string(encoded->view());
}

TEST(BackupArchive, RoundTripsManifestAndFiles) {
  auto archive = DecodeArchive(Encoded());
  ASSERT_TRUE(archive.ok()) << archive.status();
  EXPECT_EQ(archive->manifest.format_version, kFormatVersion);
  EXPECT_EQ(archive->manifest.kmsd_version, "0.1.0");
  EXPECT_EQ(archive->manifest.created_at, "2024-05-01T10:00:00Z");
  EXPECT_EQ(archive->manifest.source_host, "host");
  EXPECT_EQ(archive->manifest.source_data_dir, "/var/lib/kmsd");
  auto expected = SampleFiles();
  ASSERT_EQ(archive->files.size(), expected.size());
  ASSERT_EQ(archive->manifest.files.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(archive->files[i].name, expected[i].name);
    EXPECT_EQ(archive->files[i].content.view(), expected[i].content.view());
    EXPECT_EQ(archive->manifest.files[i].size, expected[i].content.size());
    EXPECT_EQ(archive->manifest.files[i].sha256_hex,
              crypto::HexEncode(crypto::Sha256(expected[i].content.view())));
  }
}

TEST(BackupArchive, BeginsWithMagicAndVersionAndEndsWithTheDigestOfTheRest) {
  std::string bytes = Encoded();
  EXPECT_EQ(bytes.substr(0, 8), "KMSDBKUP");
  EXPECT_EQ(bytes.substr(8, 4), std::string("\0\0\0\1", 4));
  EXPECT_EQ(bytes.substr(bytes.size() - 32), crypto::Sha256(bytes.substr(0, bytes.size() - 32)));
}

TEST(BackupArchive, RefusesEveryFlippedBit) {
  std::string good = Encoded();
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(DecodeArchive(bad).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(BackupArchive, RefusesEveryTruncation) {
  std::string good = Encoded();
  for (size_t length = 0; length < good.size(); ++length) {
    auto archive = DecodeArchive(std::string_view(good).substr(0, length));
    EXPECT_FALSE(archive.ok()) << "truncated to " << length;
  }
  auto cut = DecodeArchive(std::string_view(good).substr(0, good.size() - 40));
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos) << cut.status();
}

TEST(BackupArchive, RefusesBytesAfterTheEnd) {
  auto archive = DecodeArchive(Encoded() + "x");
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.status().message().find("unexpected bytes"), std::string::npos);
}

TEST(BackupArchive, RefusesAnAlteredFileEvenWithARecomputedTrailer) {
  std::string bytes = Encoded();
  size_t at = bytes.find("secret");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'S';
  std::string body = bytes.substr(0, bytes.size() - 32);
  bytes = body + crypto::Sha256(body);
  auto archive = DecodeArchive(bytes);
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.status().message().find("SHA-256 of root-credentials"), std::string::npos)
      << archive.status();
}

TEST(BackupArchive, RefusesAnotherFormatVersion) {
  std::string bytes = Encoded();
  bytes[11] = 2;
  auto archive = DecodeArchive(bytes);
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.status().message().find("format version 2"), std::string::npos);
}

TEST(BackupArchive, RefusesAFileThatIsNotABackup) {
  auto archive = DecodeArchive(std::string(100, 'x'));
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.status().message().find("magic"), std::string::npos);
}

TEST(BackupArchive, EncodesOnlyPlainUniqueNames) {
  for (std::string name : {"../root.key", "a/b", "", ".", ".."}) {
    std::vector<ArchiveFile> files;
    files.push_back({name, SecretBytes::FromString("x")});
    EXPECT_FALSE(EncodeArchive(SampleManifest(), files).ok()) << name;
  }
  std::vector<ArchiveFile> twice;
  twice.push_back({"kmsd.db", SecretBytes::FromString("x")});
  twice.push_back({"kmsd.db", SecretBytes::FromString("y")});
  EXPECT_FALSE(EncodeArchive(SampleManifest(), twice).ok());
}

}  // namespace
}  // namespace kmsd::backup
