// Writes the structured seeds of fuzz/corpus/ with kmsd's own code, under the fixed keys the
// targets use, so that the seeds are real (a blob that opens, a token that matches, a signed
// request, a trail that verifies) and can be made again after a format changes:
//   build-fuzz/fuzz_make_seeds fuzz/corpus
// The hand-written seeds (HTTP requests, JSON bodies, forms, policies) live beside them.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "audit/trail_format.h"
#include "fuzz/fuzz_util.h"
#include "iam/session_token.h"
#include "kmsd/audit.h"
#include "kmsd/backup.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/principal.h"
#include "kmsd/sigv4.h"
#include "service/grants.h"
#include "service/import_token.h"

namespace kmsd::fuzz {
namespace {

std::string corpus;

void Write(const std::string& target, const std::string& name, std::string_view content) {
  std::filesystem::create_directories(corpus + "/" + target);
  std::ofstream out(corpus + "/" + target + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

template <typename T>
T Must(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", value.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*value);
}

std::string Join(std::string_view a, std::string_view b) {
  return std::string(a) + std::string(kPartSeparator) + std::string(b);
}

void Blobs() {
  SecretBytes key = FixedKey();
  BlobHeader header{"1234abcd-12ab-34cd-56ef-1234567890ab", 1};
  Write("ciphertext_blob", "with_context",
        Join(Must(SealBlob(header, key, {{"purpose", "test"}}, "hello")), "purpose=test"));
  Write("ciphertext_blob", "no_context", Must(SealBlob(header, key, {}, std::string(32, 'd'))));
}

void GrantTokens() {
  records::GrantRecord grant;
  grant.key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
  grant.grant_id = std::string(64, 'a');
  grant.token_secret = FixedKey('g');
  Write("grant_token", "token", Must(grants::MakeToken(grant)));
}

void ImportTokens() {
  import_token::Claims claims{"1234abcd-12ab-34cd-56ef-1234567890ab",
                              crypto::WrappingAlgorithm::kRsaAesKeyWrapSha256, 4096, 1714644000};
  Write("import_token", "token", Must(import_token::Seal(FixedKey('i'), std::string(32, 'a'), claims)));
}

void SessionTokens() {
  iam::SessionClaims claims;
  claims.access_key_id = "ASIAEXAMPLESESSION01";
  claims.secret_access_key = SecretBytes::FromString("wJalrXUtnFEMI/K7MDENG/bPxRfiCYSESSIONKEY");
  claims.role_id = "AROAEXAMPLEROLE00001";
  claims.role_name = "Admin";
  claims.session_name = "alice";
  claims.created = 1714557600;
  claims.expiration = 1714561200;
  std::string token = Must(iam::SealSessionToken(FixedKey('s'), claims));
  // The claims as session_token.cc lays them out, for the part sealed by the target itself.
  std::string raw;
  for (std::string_view field : {std::string_view(claims.access_key_id),
                                 claims.secret_access_key.view(), std::string_view("AROA1"),
                                 std::string_view("Admin"), std::string_view("alice")}) {
    raw.push_back(static_cast<char>(field.size() >> 8));
    raw.push_back(static_cast<char>(field.size() & 0xFF));
    raw.append(field);
  }
  for (int64_t time : {claims.created, claims.expiration}) {
    for (int i = 7; i >= 0; --i) raw.push_back(static_cast<char>(time >> (8 * i)));
  }
  Write("session_token", "token", Join(claims.access_key_id, Join(token, raw)));
}

void SignedRequests() {
  auto render = [](const sigv4::SignableRequest& request) {
    std::string text = request.method + " " + request.target + "\n";
    for (const auto& [name, value] : request.headers) text += name + ": " + value + "\n";
    return text + "\n" + request.body;
  };
  sigv4::Credentials root{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  sigv4::SignableRequest encrypt{"POST", "/",
                                 {{"Host", "127.0.0.1:7600"},
                                  {"Content-Type", "application/x-amz-json-1.1"},
                                  {"X-Amz-Target", "TrentService.Encrypt"}},
                                 R"({"KeyId":"alias/app","Plaintext":"aGVsbG8="})"};
  sigv4::Sign(encrypt, root, "us-east-1", "kms", 1714557600);
  Write("sigv4", "kms_encrypt", render(encrypt));
  sigv4::SignableRequest list{"GET", "/path/a%20b/?Action=ListUsers&Version=2010-05-08&MaxItems=5",
                              {{"host", "localhost"}},
                              ""};
  sigv4::Sign(list, {"ASIAEXAMPLESESSION01", "secret", "token=="}, "us-east-1", "iam",
              1714557600);
  Write("sigv4", "iam_get_with_session", render(list));
}

class FixedClock final : public Clock {
 public:
  int64_t NowSeconds() const override { return 1714557600; }
};

void AuditTrail() {
  std::string dir = (std::filesystem::temp_directory_path() / "kmsd-seeds-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) std::exit(1);
  std::string key_path = dir + "/" + std::string(audit::kSigningKeyFile);
  {
    std::ofstream key(key_path);
    key << "-----BEGIN PRIVATE KEY-----\n"
           "MC4CAQAwBQYDK2VwBCIEIIJYaz0igyGaJWjMBc57d5lakt2x762j3idj8AFVIP5O\n"
           "-----END PRIVATE KEY-----\n";
  }
  std::filesystem::permissions(key_path, std::filesystem::perms::owner_read |
                                             std::filesystem::perms::owner_write);
  FixedClock clock;
  {
    audit::AuditOptions options;
    options.data_dir = dir;
    options.clock = &clock;
    auto log = Must(audit::OpenAuditLog(options));
    Principal root = RootPrincipal("111122223333", "AKIAIOSFODNN7EXAMPLE");
    HttpRequest http;
    http.method = "POST";
    http.target = "/";
    http.headers = {{"x-amz-target", "TrentService.CreateAlias"}};
    http.body = R"({"AliasName":"alias/fuzz","TargetKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"})";
    http.remote_address = "127.0.0.1";
    http.request_id = "5f2b6f2e-6a1c-4c55-9a8a-3f4f0c1b2d3e";
    absl::Status ok = absl::OkStatus();
    if (!log->Record({"CreateAlias", http, &root, ok, "", "AKIAIOSFODNN7EXAMPLE"}).ok()) std::exit(1);
    http.headers = {{"x-amz-target", "TrentService.Encrypt"}};
    http.body = R"({"KeyId":"alias/fuzz","Plaintext":"aGVsbG8="})";
    absl::Status denied = Error(ErrorType::kAccessDenied, "no");
    if (!log->Record({"Encrypt", http, &root, denied, "", "AKIAIOSFODNN7EXAMPLE"}).ok()) std::exit(1);
    if (!log->WriteDigest().ok()) std::exit(1);
    if (!log->Record({"Encrypt", http, nullptr, denied, "", "AKIABADKEY"}).ok()) std::exit(1);
  }
  auto files = Must(audit::ListTrailFiles(dir + "/audit"));
  if (files.size() != 1) std::exit(1);
  std::string trail = Must(audit::ReadWholeFile(dir + "/audit/" + files[0]));
  std::string digests = Must(audit::ReadWholeFile(dir + "/audit/" + std::string(audit::kDigestFile)));
  Write("audit_trail", "signed_trail", Join(audit::RecordBytes(trail), digests));
  std::filesystem::remove_all(dir);
}

// Each encrypted data key is the data key itself (the targets' stand-in KMS reads it so).
class CleartextKms final : public client::KmsClient {
 public:
  absl::StatusOr<client::DataKey> GenerateDataKey(const std::string&, size_t bytes,
                                                  const EncryptionContext&) override {
    client::DataKey key;
    key.plaintext = SecretBytes::FromString(std::string(bytes, 'e'));
    key.ciphertext_blob = std::string(bytes, 'e');
    key.key_arn = "arn:aws:kms:us-east-1:111122223333:key/fuzz";
    return key;
  }
  absl::StatusOr<std::pair<std::string, std::string>> Encrypt(const std::string&,
                                                              const SecretBytes& plaintext,
                                                              const EncryptionContext&) override {
    return std::make_pair(std::string(plaintext.view()), std::string("arn"));
  }
  absl::StatusOr<std::pair<SecretBytes, std::string>> Decrypt(const std::string&,
                                                              const EncryptionContext&,
                                                              const std::string&) override {
    return Error(ErrorType::kKmsInternal, "not used");
  }
};

class StringInput final : public envelope::Input {
 public:
  explicit StringInput(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(uint8_t* buffer, size_t size) override {
    size_t n = std::min(size, data_.size() - at_);
    std::memcpy(buffer, data_.data() + at_, n);
    at_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t at_ = 0;
};

class StringOutput final : public envelope::Output {
 public:
  absl::Status Write(const uint8_t* data, size_t size) override {
    text.append(reinterpret_cast<const char*>(data), size);
    return absl::OkStatus();
  }
  std::string text;
};

void EnvelopeMessages() {
  CleartextKms kms;
  for (auto [suite, name] : {std::pair<uint16_t, const char*>{envelope::kCommitKeyEcdsaP384, "signed"},
                             {envelope::kCommitKey, "committing"}}) {
    envelope::EncryptOptions options;
    options.key_ids = {"key"};
    options.context = {{"purpose", "fuzz"}};
    options.algorithm_suite = suite;
    options.frame_length = 64;
    options.worker_threads = 0;
    StringInput in(std::string(150, 'p'));
    StringOutput out;
    if (!envelope::Encrypt(kms, options, in, out).ok()) std::exit(1);
    Write("envelope_message", name, out.text);
  }
}

// A backup as `kmsd backup` writes it (the database's bytes stand in for SQLite's), and one that
// holds no files.
void Backups() {
  backup::Manifest manifest;
  manifest.kmsd_version = "0.1.0";
  manifest.created_at = "2026-12-01T16:00:00Z";
  manifest.source_host = "kms-1";
  manifest.source_data_dir = "/var/lib/kmsd";
  std::vector<backup::ArchiveFile> files;
  files.push_back({backup::kDatabaseFile, SecretBytes::FromString("SQLite format 3")});
  files.push_back({backup::kCredentialsFile,
                   SecretBytes::FromString("AKIAFUZZFUZZFUZZFUZZ:secret-access-key\n")});
  Write("backup_archive", "database_and_credentials", Must(backup::EncodeArchive(manifest, files)).view());
  Write("backup_archive", "no_files", Must(backup::EncodeArchive(manifest, {})).view());
}

}  // namespace
}  // namespace kmsd::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  kmsd::fuzz::corpus = argv[1];
  kmsd::fuzz::Blobs();
  kmsd::fuzz::GrantTokens();
  kmsd::fuzz::SessionTokens();
  kmsd::fuzz::ImportTokens();
  kmsd::fuzz::SignedRequests();
  kmsd::fuzz::AuditTrail();
  kmsd::fuzz::EnvelopeMessages();
  kmsd::fuzz::Backups();
  return 0;
}
