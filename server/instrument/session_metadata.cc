#include "server/instrument/session_metadata.h"

#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dynclamp::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Strings and messages only: every field of Session, Subject and CellInfo
// is one or the other.
void Overlay(const Message& over, Message& base) {
  const auto* from = over.GetReflection();
  const auto* to = base.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  from->ListFields(over, &fields);  // only the fields that are set
  for (const FieldDescriptor* f : fields) {
    if (f->is_repeated() && f->type() == FieldDescriptor::TYPE_STRING) {
      to->ClearField(&base, f);
      for (int i = 0; i < from->FieldSize(over, f); ++i)
        to->AddString(&base, f, from->GetRepeatedString(over, f, i));
    } else if (f->type() == FieldDescriptor::TYPE_STRING) {
      to->SetString(&base, f, from->GetString(over, f));
    } else if (!f->is_repeated() &&
               f->type() == FieldDescriptor::TYPE_MESSAGE) {
      Overlay(from->GetMessage(over, f), *to->MutableMessage(&base, f));
    }
  }
}

bool IsDuration(const std::string& s) {
  static const std::regex kDuration(
      R"(P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?)"
      R"((T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?)");
  return std::regex_match(s, kDuration);
}

bool IsAge(const std::string& age) {
  if (IsDuration(age)) return true;
  const std::vector<std::string> range = absl::StrSplit(age, '/');
  return range.size() == 2 && IsDuration(range[0]) &&
         (range[1].empty() || IsDuration(range[1]));
}

}  // namespace

void OverlaySession(const v1::Session& over, v1::Session& base) {
  v1::Session plain = over;
  plain.clear_cells();
  Overlay(plain, base);
  for (const v1::CellInfo& cell : over.cells()) {
    v1::CellInfo* target = nullptr;
    for (v1::CellInfo& c : *base.mutable_cells())
      if (c.cell() == cell.cell()) target = &c;
    if (target == nullptr) target = base.add_cells();
    Overlay(cell, *target);
  }
}

absl::Status CheckSession(const v1::Session& session, const std::string& path) {
  const v1::Subject& s = session.subject();
  const std::string subject = absl::StrCat(path, ".subject");
  auto bad = [&](const char* field, const std::string& value,
                 const char* want) {
    return absl::InvalidArgumentError(
        absl::StrCat(subject, ".", field, ": '", value, "' is not ", want));
  };
  static const std::set<std::string> kSexes = {"M", "F", "U", "O"};
  if (!s.sex().empty() && !kSexes.contains(s.sex()))
    return bad("sex", s.sex(), "one of M, F, U (unknown) or O (other)");
  if (!s.age().empty() && !IsAge(s.age()))
    return bad("age", s.age(),
               "an ISO 8601 duration such as P21D, P8W, P1Y, or a range "
               "P1D/P3D (P90D/ for 90 days or older)");
  static const std::regex kSpecies(
      R"(([A-Z][a-z]* [a-z]+)|(http://purl\.obolibrary\.org/obo/NCBITaxon_\d+))");
  if (!s.species().empty() && !std::regex_match(s.species(), kSpecies))
    return bad("species", s.species(),
               "a Latin binomial such as 'Mus musculus' or an NCBI taxonomy "
               "IRI (http://purl.obolibrary.org/obo/NCBITaxon_10090)");
  std::set<std::string> cells;
  for (int i = 0; i < session.cells_size(); ++i) {
    const std::string& name = session.cells(i).cell();
    if (name.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".cells[", i, "].cell: name the recorded cell, e.g. cell0"));
    if (!cells.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".cells[", i, "].cell: '", name, "' is described twice"));
  }
  return absl::OkStatus();
}

std::vector<std::string> MissingForDandi(const v1::Session& session) {
  std::vector<std::string> missing;
  if (!session.has_subject()) return {"subject"};
  const v1::Subject& s = session.subject();
  if (s.subject_id().empty()) missing.push_back("subject.subject_id");
  if (s.species().empty()) missing.push_back("subject.species");
  if (s.age().empty()) missing.push_back("subject.age");
  if (s.sex().empty()) missing.push_back("subject.sex");
  return missing;
}

v1::Subject SimulatedSubject(const std::vector<std::string>& cells) {
  v1::Subject s;
  s.set_subject_id("simulated-rig");
  // NCBI Taxonomy 32630, "synthetic construct": not an animal.
  s.set_species("http://purl.obolibrary.org/obo/NCBITaxon_32630");
  s.set_age("P0D");
  s.set_sex("U");
  s.set_description(
      absl::StrCat("no animal: the cells of dynclamp's simulated rig (",
                   absl::StrJoin(cells, ", "),
                   "); species, age and sex are placeholders that say so"));
  return s;
}

}  // namespace dynclamp::server
