// Several regions in one kmsd (issue 13). `kmsd serve --region us-east-1,eu-west-1` serves each
// listed region as AWS does: its own namespace of keys, aliases and grants, its own ARNs; a
// request is served by the region its SigV4 credential scope names, and a region not served is
// refused. "*" in the list serves any region (test rigs): each is made on its first request.
// The first region listed is the default (the banner's); it keeps the record ids kmsd always
// used, so a data dir written by a one-region kmsd keeps working unchanged. IAM identities stay
// global, as in AWS.
//
// Multi-Region keys (MultiRegion=true, "mrk-" ids) have related keys in several served regions:
// ReplicateKey and UpdatePrimaryRegion reach from one region's service into another's.
//
// Thread-safe: every method may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/clock.h"
#include "kmsd/keystore.h"
#include "kmsd/service.h"

namespace kmsd {

// What --region says: the regions served, in order (the first is the default), and whether any
// other region is served too ("*").
struct RegionList {
  std::vector<std::string> regions;
  bool any = false;
  const std::string& Default() const { return regions.front(); }
  // "us-east-1, eu-west-1" (", any region" with "*"): for the banner and messages.
  std::string Describe() const;
};

// Parses "us-east-1,eu-west-1" or "*" (alone: us-east-1 is the default) or "us-east-1,*".
// Refuses empty entries, duplicates and names that are not region names.
absl::StatusOr<RegionList> ParseRegionList(std::string_view text);

// Whether text has the shape of an AWS region name ("us-east-1", "us-gov-west-1",
// "ap-southeast-5"): lower-case words and a number, at most 32 characters.
bool IsRegionName(std::string_view text);

// How many regions "*" may make at most: the scope's region is chosen by the client.
inline constexpr size_t kMaxRegions = 64;

class KmsRegions {
 public:
  virtual ~KmsRegions() = default;

  virtual const RegionList& Served() const = 0;
  // The default region's service (the first listed).
  virtual KmsService* Default() = 0;
  // The service of a region (empty = the default). A region not served is
  // InvalidSignatureException: AWS's answer to a request signed for another region's endpoint.
  virtual absl::StatusOr<KmsService*> ForRegion(std::string_view region) = 0;
  // Whether a request signed for this region is served (with "*": any region name).
  virtual bool Serves(std::string_view region) const = 0;

  // The scheduler's pass, key usage saving and the metrics' counts, over every region made so
  // far (with "*": also every region whose records are in the keystore).
  virtual absl::StatusOr<DueTaskReport> RunDueTasks() = 0;
  virtual absl::StatusOr<int> SaveKeyUsage() = 0;
  virtual absl::StatusOr<KeyStateCounts> CountKeysByState() = 0;
  virtual KeyCacheStats CacheStats() = 0;
};

// One KmsService per region over one keystore (not owned; must outlive it). options.region is
// ignored: each region's service gets its own. The clock (not owned) is shared by every region.
absl::StatusOr<std::unique_ptr<KmsRegions>> NewKmsRegions(RegionList regions,
                                                          ServiceOptions options,
                                                          Keystore* keystore, const Clock* clock);

}  // namespace kmsd
