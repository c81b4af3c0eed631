// HttpRequest's small helpers. Kept apart from the server so that nothing here pulls in Beast.
#include "kmsd/http.h"

namespace kmsd {

const std::string* HttpRequest::Header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return &value;
  }
  return nullptr;
}

}  // namespace kmsd
