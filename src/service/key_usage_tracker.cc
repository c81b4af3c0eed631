// Key usage tracking: the in-memory table of each key's last use and its stored records.
#include "service/key_usage_tracker.h"

#include <functional>
#include <nlohmann/json.hpp>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::key_usage {

using nlohmann::json;

std::string UsageRecordId(std::string_view key_id) { return StrCat(kUsagePrefix, key_id); }

std::string EncodeUse(const KeyUse& use) {
  return json{{"v", 1},
              {"operation", use.operation},
              {"timestamp", use.timestamp},
              {"event_id", use.cloudtrail_event_id},
              {"request_id", use.request_id}}
      .dump();
}

absl::StatusOr<KeyUse> DecodeUse(std::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  auto has = [&parsed](const char* member, bool (json::*is)() const noexcept) {
    auto it = parsed.find(member);
    return it != parsed.end() && ((*it).*is)();
  };
  if (!parsed.is_object() || !has("operation", &json::is_string) ||
      !has("timestamp", &json::is_number_integer) || !has("event_id", &json::is_string) ||
      !has("request_id", &json::is_string)) {
    return Internal("stored key usage record is malformed");
  }
  return KeyUse{parsed["operation"].get<std::string>(), parsed["timestamp"].get<int64_t>(),
                parsed["event_id"].get<std::string>(), parsed["request_id"].get<std::string>()};
}

std::string EncodeTrackingStart(int64_t seconds) {
  return json{{"v", 1}, {"tracking_start", seconds}}.dump();
}

absl::StatusOr<int64_t> DecodeTrackingStart(std::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("tracking_start") ||
      !parsed["tracking_start"].is_number_integer()) {
    return Internal("stored key usage tracking start is malformed");
  }
  return parsed["tracking_start"].get<int64_t>();
}

KeyUsageTracker::Shard& KeyUsageTracker::ShardOf(const std::string& key_id) const {
  return shards_[std::hash<std::string>{}(key_id) % kShards];
}

void KeyUsageTracker::Record(const std::string& key_id, KeyUse use) {
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mutex);
  Slot& slot = shard.slots[key_id];
  slot.use = std::move(use);
  slot.changed = true;
}

std::optional<KeyUse> KeyUsageTracker::Find(const std::string& key_id) const {
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mutex);
  auto it = shard.slots.find(key_id);
  if (it == shard.slots.end()) return std::nullopt;
  return it->second.use;
}

void KeyUsageTracker::Remember(const std::string& key_id, KeyUse use) {
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mutex);
  shard.slots.try_emplace(key_id, Slot{std::move(use), /*changed=*/false});
}

std::vector<std::pair<std::string, KeyUse>> KeyUsageTracker::TakeChanged() {
  std::vector<std::pair<std::string, KeyUse>> changed;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [key_id, slot] : shard.slots) {
      if (!slot.changed) continue;
      changed.emplace_back(key_id, slot.use);
      slot.changed = false;
    }
  }
  return changed;
}

void KeyUsageTracker::Unsaved(const std::vector<std::pair<std::string, KeyUse>>& uses) {
  for (const auto& [key_id, use] : uses) {
    Shard& shard = ShardOf(key_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.slots.find(key_id);
    // A slot already changed again holds a newer use, which the next save writes.
    if (it == shard.slots.end() || it->second.changed) continue;
    if (it->second.use.cloudtrail_event_id == use.cloudtrail_event_id &&
        it->second.use.timestamp == use.timestamp) {
      it->second.changed = true;
    }
  }
}

void KeyUsageTracker::Forget(const std::string& key_id) {
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mutex);
  shard.slots.erase(key_id);
}

}  // namespace kmsd::key_usage
