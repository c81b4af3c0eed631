// The IAM and STS Query form reader (src/api/query/): the query string and the urlencoded body of
// every IAM and STS request. Parts: target (path and query) | body. Both go through QueryReader
// as the codecs read them; the body alone through ParseForm, FindFormValue and FormDecode; and
// PercentEncode must decode back to exactly its input.
#include <cstdint>
#include <string>

#include "api/query/form.h"
#include "api/query/query_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  using namespace kmsd::api::query;
  auto parts = fuzz::Parts(fuzz::AsText(data, size), 2);

  FormParameters parameters;
  absl::Status parsed = ParseForm(parts[1], parameters);
  fuzz::Check(!parsed.ok() || parameters.size() <= kMaxParameters, "too many parameters kept");
  auto action = FindFormValue(parts[1], "Action");
  if (parsed.ok() && parameters.count("Action")) {
    fuzz::Check(action.has_value() && *action == parameters.find("Action")->second,
                "FindFormValue disagrees with ParseForm");
  }
  auto decoded = FormDecode(parts[1]);
  if (decoded) {
    auto round_trip = FormDecode(PercentEncode(*decoded));
    fuzz::Check(round_trip && *round_trip == *decoded, "PercentEncode did not decode back");
  }

  HttpRequest http;
  http.method = "POST";
  http.target = std::string(parts[0]);
  http.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  http.body = std::string(parts[1]);
  auto reader = QueryReader::Parse(http);
  if (!reader.ok()) return 0;
  reader->Has("UserName");
  reader->HasAny("Tags");
  reader->String("UserName", {1, 64, "[\\w+=,.@-]+", IsIamNameText}, /*required=*/true);
  reader->String("Path", {1, 512, "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)", IsPathText});
  reader->String("PathPrefix", {1, 512, "\\u002F[\\u0021-\\u007F]*", IsPathPrefixText});
  reader->String("PolicyDocument",
                 {1, 131072, "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", IsPolicyDocumentText});
  reader->Enum("Status", {"Active", "Inactive"});
  reader->Integer("DurationSeconds", 900, 43200);
  reader->Integer("MaxItems", 1, 1000);
  reader->Tags("Tags", 50);
  reader->Finish().IgnoreError();
  return 0;
}
