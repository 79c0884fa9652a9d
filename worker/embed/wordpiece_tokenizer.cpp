#include "worker/embed/wordpiece_tokenizer.h"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "common/error.h"

namespace eleanor {
namespace {

using Cp = utf8proc_int32_t;

constexpr Cp kReplacementChar = 0xFFFD;
constexpr Cp kCapitalSigma = 0x3A3;
constexpr Cp kCapitalIWithDot = 0x130;

// The buffers of one thread's calls: after warm-up the hot path allocates only its results.
struct Scratch {
  std::string clean;        // step 1-2 output, UTF-8
  std::vector<Cp> cps;      // after NFC
  std::vector<Cp> lowered;  // one word after lower()
  std::string utf8;         // one word re-encoded for NFD
  std::vector<Cp> nfd;      // one word after NFD
  std::string word;         // the basic token being built
  std::string piece;        // "##" + word, for continuation lookups
  std::vector<int32_t> wordIds;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

bool isContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

bool isAsciiPunctuation(Cp c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

bool isPunctuation(Cp c) {
  if (c < 0x80) return isAsciiPunctuation(c);
  const utf8proc_category_t cat = utf8proc_category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks, not Japanese kana or Hangul.
bool isCjkIdeograph(Cp c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.isspace() set after cleaning: Zs became spaces there, Zl/Zp split words too.
bool isSeparator(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// HF's _is_control: category C* (Cc Cf Cs Co Cn); \t \n \r are handled before.
bool isControl(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CN || cat >= UTF8PROC_CATEGORY_CC;
}

// CPython's Cased and Case_Ignorable properties, as far as utf8proc exposes them; they only
// decide between σ and ς.
bool isCased(Cp c) {
  const utf8proc_category_t cat = utf8proc_category(c);
  if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) {
    return true;
  }
  return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

// Word_Break MidLetter, MidNumLet and Single_Quote: case-ignorable besides the categories.
constexpr Cp kCaseIgnorablePunctuation[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x5F4,
                                            0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52,
                                            0xFE55, 0xFF07, 0xFF0E, 0xFF1A};

bool isCaseIgnorable(Cp c) {
  if (std::find(std::begin(kCaseIgnorablePunctuation), std::end(kCaseIgnorablePunctuation), c) !=
      std::end(kCaseIgnorablePunctuation)) {
    return true;
  }
  const utf8proc_category_t cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME ||
         cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

// CPython's handle_capital_sigma: Σ lowers to ς at the end of a word.
bool isFinalSigma(const Cp* word, size_t size, size_t at) {
  size_t j = at;
  while (j > 0 && isCaseIgnorable(word[j - 1])) --j;
  if (j == 0 || !isCased(word[j - 1])) return false;
  j = at + 1;
  while (j < size && isCaseIgnorable(word[j])) ++j;
  return j == size || !isCased(word[j]);
}

// Characters that NFC leaves as they are and that never combine with the one before (every
// composition's second character is >= U+0300): a text of only these skips NFC. Checked with
// Python's unicodedata over each range.
bool isNfcStable(Cp c) {
  return c < 0x300 || (c >= 0x391 && c <= 0x3C9) || (c >= 0x400 && c <= 0x482) ||
         (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF);
}

void appendUtf8(std::string& out, Cp c) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(c, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// utf8proc_decompose into `out` (grown as needed); `text` must be valid UTF-8.
size_t decompose(std::string_view text, std::vector<Cp>& out, utf8proc_option_t options) {
  if (out.size() < text.size()) out.resize(text.size());
  for (;;) {
    const utf8proc_ssize_t n =
        utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                           static_cast<utf8proc_ssize_t>(text.size()), out.data(),
                           static_cast<utf8proc_ssize_t>(out.size()), options);
    ELEANOR_ASSERT(n >= 0, fmt::format("utf8proc_decompose: {}", utf8proc_errmsg(n)));
    if (static_cast<size_t>(n) <= out.size()) return static_cast<size_t>(n);
    out.resize(static_cast<size_t>(n));
  }
}

bool isValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    Cp c;
    const utf8proc_ssize_t n =
        utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &c);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

size_t WordPieceTokenizer::StringHash::operator()(std::string_view s) const noexcept {
  return std::hash<std::string_view>{}(s);
}

WordPieceTokenizer WordPieceTokenizer::fromFile(const std::string& vocabPath,
                                                WordPieceOptions options) {
  std::ifstream in(vocabPath, std::ios::binary);
  if (!in) {
    throw UserError(fmt::format(
        "cannot read the WordPiece vocabulary {}: {}; point embedder.vocab at the model's BERT "
        "vocab.txt",
        vocabPath, std::strerror(errno)));
  }
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    throw UserError(fmt::format("cannot read the WordPiece vocabulary {}: read error", vocabPath));
  }
  if (bytes.empty()) {
    throw UserError(
        fmt::format("the WordPiece vocabulary {} is empty; a BERT vocab.txt has one token per line",
                    vocabPath));
  }
  // Python's universal newlines, as HF's load_vocab reads it: \n, \r\n and \r end a line.
  std::vector<std::string> tokens;
  size_t begin = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != '\n' && bytes[i] != '\r') continue;
    tokens.emplace_back(bytes, begin, i - begin);
    if (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
    begin = i + 1;
  }
  if (begin < bytes.size()) tokens.emplace_back(bytes, begin, bytes.size() - begin);
  return fromTokens(std::move(tokens), options, vocabPath);
}

WordPieceTokenizer WordPieceTokenizer::fromTokens(std::vector<std::string> tokens,
                                                  WordPieceOptions options,
                                                  const std::string& source) {
  if (options.maxSeqLen < 2) {
    throw UserError(fmt::format(
        "WordPiece tokenizer for {}: max_seq_len is {}, it must be at least 2 ([CLS] and [SEP])",
        source, options.maxSeqLen));
  }
  if (options.maxInputCharsPerWord < 1) {
    throw UserError(fmt::format(
        "WordPiece tokenizer for {}: max_input_chars_per_word is {}, it must be at least 1", source,
        options.maxInputCharsPerWord));
  }
  if (tokens.empty()) {
    throw UserError(fmt::format(
        "the WordPiece vocabulary {} is empty; a BERT vocab.txt has one token per line", source));
  }
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw UserError(
        fmt::format("the WordPiece vocabulary {} has too many tokens ({})", source, tokens.size()));
  }
  WordPieceTokenizer t;
  t.options_ = options;
  t.stripAccents_ = options.stripAccents.value_or(options.lowerCase);
  t.vocab_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!isValidUtf8(tokens[i])) {
      throw UserError(fmt::format("{}:{}: the WordPiece vocabulary must be UTF-8; this line is not",
                                  source, i + 1));
    }
    t.maxTokenBytes_ = std::max(t.maxTokenBytes_, tokens[i].size());
    t.vocab_.insert_or_assign(tokens[i], static_cast<int32_t>(i));
  }
  t.idToToken_ = std::move(tokens);

  std::string missing;
  const auto special = [&](const char* name) {
    const int32_t id = t.lookup(name);
    if (id < 0) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", name);
    return id;
  };
  t.padId_ = special("[PAD]");
  t.unkId_ = special("[UNK]");
  t.clsId_ = special("[CLS]");
  t.sepId_ = special("[SEP]");
  if (!missing.empty()) {
    throw UserError(fmt::format(
        "the WordPiece vocabulary {} ({} tokens) lacks {}; BERT's tokenizer needs [PAD], [UNK], "
        "[CLS] and [SEP], each on a line of its own: is this the model's vocab.txt?",
        source, t.idToToken_.size(), missing));
  }
  return t;
}

int32_t WordPieceTokenizer::lookup(std::string_view piece) const {
  const auto it = vocab_.find(piece);
  return it == vocab_.end() ? -1 : it->second;
}

template <class Sink>
bool WordPieceTokenizer::forEachBasicToken(std::string_view text, Sink&& sink) const {
  Scratch& s = scratch();
  const bool ascii = std::all_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    // All of steps 1-4 reduce to byte rules here: ASCII is NFC, has no accents, no CJK.
    std::string& word = s.word;
    word.clear();
    const auto flush = [&] {
      if (word.empty()) return true;
      const bool more = sink(std::string_view(word));
      word.clear();
      return more;
    };
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        if (!flush()) return false;
      } else if (c < 0x20 || c == 0x7F) {
        continue;  // dropped, without splitting the word
      } else if (isAsciiPunctuation(c)) {
        if (!flush() || !sink(text.substr(i, 1))) return false;
      } else {
        word.push_back(options_.lowerCase && c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
      }
    }
    return flush();
  }

  // Steps 1-2: clean and space out CJK ideographs; bad bytes read as U+FFFD and are dropped.
  std::string& clean = s.clean;
  std::vector<Cp>& cps = s.cps;
  clean.clear();
  cps.clear();
  bool nfcStable = true;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    Cp c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        clean.push_back(' ');
        cps.push_back(' ');
      } else if (c >= 0x20 && c != 0x7F) {
        clean.push_back(static_cast<char>(c));
        cps.push_back(c);
      }
      continue;
    }
    const utf8proc_ssize_t n =
        utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(text.size() - i), &c);
    if (n <= 0) {
      ++i;
      continue;
    }
    i += static_cast<size_t>(n);
    const utf8proc_category_t cat = utf8proc_category(c);
    if (c == kReplacementChar || isControl(cat)) continue;
    if (isSeparator(cat)) {
      clean.push_back(' ');
      cps.push_back(' ');
    } else if (options_.tokenizeChineseChars && isCjkIdeograph(c)) {
      clean.push_back(' ');
      appendUtf8(clean, c);
      clean.push_back(' ');
      cps.insert(cps.end(), {' ', c, ' '});
    } else {
      appendUtf8(clean, c);
      cps.push_back(c);
    }
    nfcStable = nfcStable && isNfcStable(c);
  }

  // Step 3: NFC (HF's BasicTokenizer does it since transformers 4.3x), then words.
  size_t count = cps.size();
  if (!nfcStable) {
    count =
        decompose(clean, cps, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    const utf8proc_ssize_t composed = utf8proc_normalize_utf32(
        cps.data(), static_cast<utf8proc_ssize_t>(count),
        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    ELEANOR_ASSERT(composed >= 0, "utf8proc_normalize_utf32 failed");
    count = static_cast<size_t>(composed);
  }

  for (size_t begin = 0; begin < count;) {
    if (cps[begin] == ' ') {
      ++begin;
      continue;
    }
    size_t end = begin;
    while (end < count && cps[end] != ' ') ++end;
    const Cp* chars = cps.data() + begin;
    size_t size = end - begin;
    begin = end;

    // Step 4: lower(), accents, punctuation; an ASCII word needs only the byte rules.
    const bool asciiWord = std::all_of(chars, chars + size, [](Cp c) { return c < 0x80; });
    if (options_.lowerCase && !asciiWord) {
      s.lowered.clear();
      for (size_t k = 0; k < size; ++k) {
        const Cp c = chars[k];
        if (c == kCapitalIWithDot) {  // Python's full mapping: i + combining dot above
          s.lowered.push_back('i');
          s.lowered.push_back(0x307);
        } else if (c == kCapitalSigma) {
          s.lowered.push_back(isFinalSigma(chars, size, k) ? 0x3C2 : 0x3C3);
        } else {
          s.lowered.push_back(utf8proc_tolower(c));
        }
      }
      chars = s.lowered.data();
      size = s.lowered.size();
    }
    if (stripAccents_ && !asciiWord) {
      s.utf8.clear();
      for (size_t k = 0; k < size; ++k) appendUtf8(s.utf8, chars[k]);
      size = decompose(s.utf8, s.nfd,
                       static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
      chars = s.nfd.data();
    }
    std::string& word = s.word;
    word.clear();
    for (size_t k = 0; k < size; ++k) {
      const Cp c = chars[k];
      if (stripAccents_ && c >= 0x80 && utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
      if (isPunctuation(c)) {
        if (!word.empty()) {
          if (!sink(std::string_view(word))) return false;
          word.clear();
        }
        std::string single;
        appendUtf8(single, c);
        if (!sink(std::string_view(single))) return false;
      } else if (asciiWord) {
        word.push_back(static_cast<char>(options_.lowerCase && c >= 'A' && c <= 'Z' ? c + 32 : c));
      } else {
        appendUtf8(word, c);
      }
    }
    if (!word.empty() && !sink(std::string_view(word))) return false;
  }
  return true;
}

void WordPieceTokenizer::appendWordPieces(std::string_view word, std::vector<int32_t>& ids,
                                          size_t limit) const {
  if (ids.size() >= limit) return;
  const size_t chars = static_cast<size_t>(
      std::count_if(word.begin(), word.end(), [](char c) { return !isContinuationByte(c); }));
  if (chars > static_cast<size_t>(options_.maxInputCharsPerWord)) {
    ids.push_back(unkId_);
    return;
  }
  Scratch& s = scratch();
  // piece = "##" + word; the two bytes before word[start] (already consumed) are overwritten
  // with "##" so that piece[start, end + 2) is the continuation candidate, with no copy.
  s.piece.assign("##");
  s.piece.append(word);
  s.wordIds.clear();
  for (size_t start = 0; start < word.size();) {
    const size_t prefix = start == 0 ? 0 : 2;
    if (start > 0) {
      s.piece[start] = '#';
      s.piece[start + 1] = '#';
    }
    size_t end = word.size();
    if (end - start + prefix > maxTokenBytes_) {
      end = maxTokenBytes_ > prefix ? start + (maxTokenBytes_ - prefix) : start;
      while (end > start && isContinuationByte(word[end])) --end;
    }
    int32_t id = -1;
    while (end > start) {
      id = lookup(start == 0 ? word.substr(0, end)
                             : std::string_view(s.piece).substr(start, end - start + 2));
      if (id >= 0) break;
      --end;
      while (end > start && isContinuationByte(word[end])) --end;
    }
    if (id < 0) {
      ids.push_back(unkId_);
      return;
    }
    s.wordIds.push_back(id);
    start = end;
  }
  const size_t take = std::min(s.wordIds.size(), limit - ids.size());
  ids.insert(ids.end(), s.wordIds.begin(), s.wordIds.begin() + static_cast<std::ptrdiff_t>(take));
}

std::vector<std::string> WordPieceTokenizer::basicTokens(std::string_view text) const {
  std::vector<std::string> out;
  forEachBasicToken(text, [&](std::string_view word) {
    out.emplace_back(word);
    return true;
  });
  return out;
}

std::vector<std::string> WordPieceTokenizer::wordPieces(std::string_view text) const {
  std::vector<int32_t> ids;
  const size_t unlimited = std::numeric_limits<size_t>::max();
  forEachBasicToken(text, [&](std::string_view word) {
    appendWordPieces(word, ids, unlimited);
    return true;
  });
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const int32_t id : ids) out.push_back(token(id));
  return out;
}

void WordPieceTokenizer::encodeInto(std::string_view text, std::vector<int32_t>& ids) const {
  ids.clear();
  ids.push_back(clsId_);
  // Stop tokenizing as soon as the sequence is full: long texts cost only what is kept.
  const size_t limit = static_cast<size_t>(options_.maxSeqLen) - 1;
  forEachBasicToken(text, [&](std::string_view word) {
    appendWordPieces(word, ids, limit);
    return ids.size() < limit;
  });
  ids.push_back(sepId_);
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encodeInto(text, ids);
  return ids;
}

}  // namespace eleanor
