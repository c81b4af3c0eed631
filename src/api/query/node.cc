// The answer tree. See node.h.
#include "api/query/node.h"

#include "api/query/form.h"
#include "api/request_reader.h"  // LowerCamel
#include "kmsd/clock.h"

namespace kmsd::api::query {

Node Node::Text(std::string_view name, std::string value) {
  Node node(Kind::kText, name);
  node.text_ = std::move(value);
  return node;
}

Node Node::Number(std::string_view name, int64_t value) {
  Node node(Kind::kNumber, name);
  node.number_ = value;
  return node;
}

Node Node::Boolean(std::string_view name, bool value) {
  Node node(Kind::kBoolean, name);
  node.number_ = value ? 1 : 0;
  return node;
}

Node Node::Date(std::string_view name, int64_t unix_seconds) {
  return Text(name, Iso8601(unix_seconds));
}

Node Node::PolicyDocument(std::string_view name, std::string document) {
  Node node(Kind::kPolicyDocument, name);
  node.text_ = std::move(document);
  return node;
}

Node Node::Secret(std::string_view name, SecretBytes value) {
  Node node(Kind::kSecret, name);
  node.secret_ = std::move(value);
  return node;
}

Node Node::Struct(std::string_view name) { return Node(Kind::kStruct, name); }

Node Node::List(std::string_view name) { return Node(Kind::kList, name); }

Node& Node::Add(Node child) {
  children_.push_back(std::move(child));
  return children_.back();
}

void Node::WriteXml(XmlWriter& writer) const { WriteXmlAs(writer, name_); }

void Node::WriteXmlAs(XmlWriter& writer, std::string_view name) const {
  switch (kind_) {
    case Kind::kText:
      writer.Element(name, text_);
      return;
    case Kind::kNumber:
      writer.Element(name, std::to_string(number_));
      return;
    case Kind::kBoolean:
      writer.Element(name, number_ ? "true" : "false");
      return;
    case Kind::kPolicyDocument:
      writer.Element(name, PercentEncode(text_));
      return;
    case Kind::kSecret:
      writer.Element(name, secret_);
      return;
    case Kind::kStruct:
    case Kind::kList:
      writer.Open(name);
      for (const Node& child : children_) {
        child.WriteXmlAs(writer, kind_ == Kind::kList ? std::string_view("member")
                                                      : std::string_view(child.name_));
      }
      writer.Close(name);
      return;
  }
}

nlohmann::json Node::AuditJson() const {
  nlohmann::json object = nlohmann::json::object();
  for (const Node& child : children_) {
    if (child.Audited()) object[LowerCamel(child.name_)] = child.AuditValue();
  }
  return object;
}

nlohmann::json Node::AuditValue() const {
  switch (kind_) {
    case Kind::kText:
    case Kind::kPolicyDocument:
      return text_;
    case Kind::kNumber:
      return number_;
    case Kind::kBoolean:
      return number_ != 0;
    case Kind::kSecret:
      return nullptr;  // never reached: secrets are not audited
    case Kind::kStruct:
      return AuditJson();
    case Kind::kList: {
      nlohmann::json array = nlohmann::json::array();
      for (const Node& child : children_) {
        if (child.Audited()) array.push_back(child.AuditValue());
      }
      return array;
    }
  }
  return nullptr;
}

}  // namespace kmsd::api::query
