// The audit trail reader behind `kmsd audit verify` and `kmsd audit query` (src/audit/verify.cc,
// query.cc, trail_format.cc): whoever can write the data dir can put any bytes in the trail, and
// the verifier must then report tampering, never crash. Parts: trail file | digests file. They are
// written to a temporary audit dir and verified against a fixed signing key (the seeds are a real
// trail signed with it), then queried.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "audit/trail_format.h"
#include "fuzz/fuzz_util.h"
#include "kmsd/audit.h"

namespace {

// A fixed Ed25519 key, for fuzzing only: the seeds' digests are signed with it.
constexpr std::string_view kSigningKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIIJYaz0igyGaJWjMBc57d5lakt2x762j3idj8AFVIP5O\n"
    "-----END PRIVATE KEY-----\n";

struct Fixture {
  std::string data_dir;
  std::string audit_dir;
  std::string public_key_pem;
};

void WriteFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

const Fixture& TheFixture() {
  static const Fixture* fixture = [] {
    auto* made = new Fixture;
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kmsd-fuzz-audit-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    made->data_dir = pattern;
    made->audit_dir = pattern + "/audit";
    std::filesystem::create_directory(made->audit_dir);
    std::string key_path = made->data_dir + "/" + std::string(kmsd::audit::kSigningKeyFile);
    WriteFile(key_path, kSigningKeyPem);
    std::filesystem::permissions(key_path, std::filesystem::perms::owner_read |
                                               std::filesystem::perms::owner_write);
    auto pem = kmsd::audit::AuditPublicKeyPem(made->data_dir);
    if (!pem.ok()) std::abort();
    made->public_key_pem = *pem;
    static const std::string dir = made->data_dir;
    std::atexit([] { std::filesystem::remove_all(dir); });
    return made;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  const Fixture& fixture = TheFixture();
  auto parts = fuzz::Parts(fuzz::AsText(data, size), 2);
  std::string trail = fixture.audit_dir + "/trail-00000000000000000001-20240501T100000Z.jsonl";
  std::string digests = fixture.audit_dir + "/" + std::string(audit::kDigestFile);
  WriteFile(trail, parts[0]);
  if (parts[1].empty()) {
    std::filesystem::remove(digests);
  } else {
    WriteFile(digests, parts[1]);
  }
  auto report = audit::VerifyTrail(fixture.audit_dir, fixture.public_key_pem);
  fuzz::Check(report.ok(), "VerifyTrail could not run on a readable dir");
  std::string text = audit::FormatVerifyReport(*report);
  fuzz::Check(report->ok == (text.find("FAILED") == std::string::npos), "the report contradicts itself");

  audit::QueryFilter filter;
  std::ostringstream out;
  audit::QueryTrail(fixture.audit_dir, filter, audit::QueryFormat::kJsonLines, out).IgnoreError();
  filter.key = "alias/fuzz";
  std::ostringstream table;
  audit::QueryTrail(fixture.audit_dir, filter, audit::QueryFormat::kTable, table).IgnoreError();
  std::string_view first_line = parts[0].substr(0, parts[0].find('\n'));
  audit::ParseIsoTime(first_line);
  audit::HexToBytes(first_line);
  return 0;
}
