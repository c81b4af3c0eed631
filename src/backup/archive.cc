// The backup file format (include/kmsd/backup.h): encoding, and decoding that trusts nothing.
#include <nlohmann/json.hpp>

#include "kmsd/backup.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::backup {
namespace {

using nlohmann::json;

constexpr std::string_view kMagic = "KMSDBKUP";
constexpr size_t kHeaderSize = 16;  // magic, format version, manifest length
constexpr size_t kTrailerSize = crypto::kSha256Size;
constexpr uint32_t kMaxManifestBytes = 1 << 20;

void AppendUint32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

uint32_t ReadUint32(std::string_view bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = value << 8 | static_cast<uint8_t>(bytes[i]);
  return value;
}

absl::Status Refuse(std::string_view what) {
  return Validation(StrCat("not a usable kmsd backup: ", what));
}

bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 255 &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

absl::Status CheckNames(const std::vector<std::string_view>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (!IsPlainName(names[i])) return Validation(StrCat("bad file name in a backup: ", names[i]));
    for (size_t j = 0; j < i; ++j) {
      if (names[i] == names[j]) return Validation(StrCat("file twice in a backup: ", names[i]));
    }
  }
  return absl::OkStatus();
}

json ManifestJson(const Manifest& manifest) {
  json files = json::array();
  for (const FileEntry& file : manifest.files) {
    files.push_back({{"name", file.name}, {"size", file.size}, {"sha256", file.sha256_hex}});
  }
  return {{"format", "kmsd-backup"},
          {"formatVersion", manifest.format_version},
          {"kmsdVersion", manifest.kmsd_version},
          {"createdAt", manifest.created_at},
          {"sourceHost", manifest.source_host},
          {"sourceDataDir", manifest.source_data_dir},
          {"files", files}};
}

// The manifest's members, type-checked (json's get<> would throw on a wrong type).
absl::StatusOr<Manifest> ParseManifest(std::string_view text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return Refuse("the manifest is not JSON (the file is damaged)");
  Manifest manifest;
  auto string_member = [&](const char* name, std::string& out) {
    auto it = parsed.find(name);
    if (it == parsed.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  std::string format;
  if (!string_member("format", format) || format != "kmsd-backup" ||
      !string_member("kmsdVersion", manifest.kmsd_version) ||
      !string_member("createdAt", manifest.created_at) ||
      !string_member("sourceHost", manifest.source_host) ||
      !string_member("sourceDataDir", manifest.source_data_dir)) {
    return Refuse("the manifest lacks a member or has one of the wrong type");
  }
  auto version = parsed.find("formatVersion");
  auto files = parsed.find("files");
  if (version == parsed.end() || !version->is_number_unsigned() || files == parsed.end() ||
      !files->is_array()) {
    return Refuse("the manifest lacks formatVersion or files");
  }
  manifest.format_version = version->get<uint32_t>();
  for (const json& file : *files) {
    auto name = file.find("name");
    auto size = file.find("size");
    auto digest = file.find("sha256");
    if (!file.is_object() || name == file.end() || !name->is_string() || size == file.end() ||
        !size->is_number_unsigned() || digest == file.end() || !digest->is_string()) {
      return Refuse("a file entry of the manifest is malformed");
    }
    manifest.files.push_back(
        {name->get<std::string>(), size->get<uint64_t>(), digest->get<std::string>()});
  }
  return manifest;
}

}  // namespace

absl::StatusOr<SecretBytes> EncodeArchive(Manifest manifest,
                                          const std::vector<ArchiveFile>& files) {
  std::vector<std::string_view> names;
  for (const ArchiveFile& file : files) names.push_back(file.name);
  if (auto status = CheckNames(names); !status.ok()) return status;
  manifest.format_version = kFormatVersion;
  manifest.files.clear();
  size_t content_bytes = 0;
  for (const ArchiveFile& file : files) {
    manifest.files.push_back(
        {file.name, file.content.size(), crypto::HexEncode(crypto::Sha256(file.content.view()))});
    content_bytes += file.content.size();
  }
  std::string manifest_text = ManifestJson(manifest).dump();
  if (manifest_text.size() > kMaxManifestBytes) return Validation("the backup manifest is too big");

  size_t total = kHeaderSize + manifest_text.size() + content_bytes + kTrailerSize;
  SecretBytes out(total);
  std::string header(kMagic);
  AppendUint32(header, kFormatVersion);
  AppendUint32(header, static_cast<uint32_t>(manifest_text.size()));
  uint8_t* cursor = out.data();
  auto put = [&cursor](std::string_view bytes) {
    std::copy(bytes.begin(), bytes.end(), cursor);
    cursor += bytes.size();
  };
  put(header);
  put(manifest_text);
  for (const ArchiveFile& file : files) put(file.content.view());
  std::string digest = crypto::Sha256(out.view().substr(0, total - kTrailerSize));
  put(digest);
  return out;
}

absl::StatusOr<Archive> DecodeArchive(std::string_view bytes) {
  if (bytes.size() < kHeaderSize + kTrailerSize || !bytes.starts_with(kMagic)) {
    return Refuse("it does not begin with the kmsd backup magic (KMSDBKUP)");
  }
  uint32_t version = ReadUint32(bytes.substr(8));
  if (version != kFormatVersion) {
    return Refuse(StrCat("format version ", version, "; this kmsd reads version ",
                         kFormatVersion));
  }
  uint32_t manifest_size = ReadUint32(bytes.substr(12));
  if (manifest_size > kMaxManifestBytes ||
      manifest_size > bytes.size() - kHeaderSize - kTrailerSize) {
    return Refuse("truncated or damaged: the manifest length runs past the end of the file");
  }
  auto manifest = ParseManifest(bytes.substr(kHeaderSize, manifest_size));
  if (!manifest.ok()) return manifest.status();
  if (manifest->format_version != version) {
    return Refuse("the manifest's format version differs from the header's");
  }
  std::vector<std::string_view> names;
  uint64_t content_bytes = 0;
  for (const FileEntry& file : manifest->files) {
    names.push_back(file.name);
    if (file.size > bytes.size()) return Refuse(StrCat("truncated: ", file.name, " is missing"));
    content_bytes += file.size;
  }
  if (auto status = CheckNames(names); !status.ok()) return Refuse(ToStd(status.message()));
  uint64_t expected = kHeaderSize + manifest_size + content_bytes + kTrailerSize;
  if (bytes.size() < expected) {
    return Refuse(StrCat("truncated: ", bytes.size(), " bytes where the manifest accounts for ",
                         expected));
  }
  if (bytes.size() > expected) {
    return Refuse(StrCat("damaged: ", bytes.size() - expected,
                         " unexpected bytes after the files the manifest lists"));
  }

  Archive archive;
  size_t offset = kHeaderSize + manifest_size;
  for (const FileEntry& file : manifest->files) {
    std::string_view content = bytes.substr(offset, file.size);
    offset += file.size;
    if (crypto::HexEncode(crypto::Sha256(content)) != file.sha256_hex) {
      return Refuse(StrCat("damaged: the SHA-256 of ", file.name, " does not match the manifest"));
    }
    archive.files.push_back({file.name, SecretBytes::FromString(content)});
  }
  std::string_view covered = bytes.substr(0, bytes.size() - kTrailerSize);
  if (!crypto::ConstantTimeEquals(crypto::Sha256(covered), bytes.substr(covered.size()))) {
    return Refuse("damaged: the file's trailing SHA-256 does not match (header or manifest altered)");
  }
  archive.manifest = std::move(*manifest);
  return archive;
}

}  // namespace kmsd::backup
