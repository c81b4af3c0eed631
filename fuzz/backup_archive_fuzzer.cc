// The backup file reader (src/backup/archive.cc): a backup file handed to `kmsd restore`, which may
// come from storage an attacker can write to. DecodeArchive must refuse anything but a whole,
// consistent archive, and what it accepts must be safe to write into a data dir: plain, unique
// file names, each file's bytes matching its manifest entry. An accepted archive, encoded again,
// must decode to the same manifest and files. The trailing SHA-256 is no secret (anyone can
// compute it), so each input is also tried with its last 32 bytes replaced by the digest of the
// rest, as an attacker would: mutations then reach the checks behind the digest.
#include <cstdint>
#include <set>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/backup.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace {

bool PlainName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

bool SameManifest(const kmsd::backup::Manifest& a, const kmsd::backup::Manifest& b) {
  if (a.format_version != b.format_version || a.kmsd_version != b.kmsd_version ||
      a.created_at != b.created_at || a.source_host != b.source_host ||
      a.source_data_dir != b.source_data_dir || a.files.size() != b.files.size()) {
    return false;
  }
  for (size_t i = 0; i < a.files.size(); ++i) {
    if (a.files[i].name != b.files[i].name || a.files[i].size != b.files[i].size ||
        a.files[i].sha256_hex != b.files[i].sha256_hex) {
      return false;
    }
  }
  return true;
}

void Exercise(std::string_view bytes) {
  using namespace kmsd;
  auto archive = backup::DecodeArchive(bytes);
  if (!archive.ok()) {
    fuzz::Check(TypeOf(archive.status()) == ErrorType::kValidation &&
                    !archive.status().message().empty(),
                "a backup was refused with another error than a ValidationException, or no reason");
    return;
  }

  fuzz::Check(archive->manifest.format_version == backup::kFormatVersion,
              "a backup of another format version was accepted");
  fuzz::Check(archive->files.size() == archive->manifest.files.size(),
              "the files differ in number from the manifest's entries");
  std::set<std::string> names;
  uint64_t content_bytes = 0;
  for (size_t i = 0; i < archive->files.size(); ++i) {
    const backup::ArchiveFile& file = archive->files[i];
    const backup::FileEntry& entry = archive->manifest.files[i];
    fuzz::Check(PlainName(file.name) && file.name.size() <= 255,
                "an accepted backup holds a file name that is not a plain name");
    fuzz::Check(names.insert(file.name).second, "an accepted backup holds a file twice");
    fuzz::Check(file.name == entry.name && file.content.size() == entry.size,
                "a file differs from its manifest entry");
    fuzz::Check(crypto::HexEncode(crypto::Sha256(file.content.view())) == entry.sha256_hex,
                "a file's SHA-256 differs from its manifest entry");
    content_bytes += entry.size;
  }
  fuzz::Check(content_bytes < bytes.size(), "the files add up to more than the backup's bytes");

  auto encoded = backup::EncodeArchive(archive->manifest, archive->files);
  fuzz::Check(encoded.ok(), "an accepted backup could not be encoded again");
  auto again = backup::DecodeArchive(encoded->view());
  fuzz::Check(again.ok(), "a backup encoded again was refused");
  fuzz::Check(SameManifest(archive->manifest, again->manifest),
              "a backup encoded again decoded to another manifest");
  for (size_t i = 0; i < archive->files.size(); ++i) {
    fuzz::Check(again->files[i].content.view() == archive->files[i].content.view(),
                "a backup encoded again decoded to other file contents");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = kmsd::fuzz::AsText(data, size);
  Exercise(bytes);
  if (bytes.size() >= kmsd::crypto::kSha256Size) {
    std::string digested(bytes.substr(0, bytes.size() - kmsd::crypto::kSha256Size));
    digested += kmsd::crypto::Sha256(digested);
    Exercise(digested);
  }
  return 0;
}
