// WordPieceTokenizer: BERT's tokenizer, equal to Hugging Face's (slow) BertTokenizer, i.e.
// BasicTokenizer + WordpieceTokenizer, on the text a model sees:
//   1. clean: drop NUL, U+FFFD and every category C* character except \t \n \r; map those
//      three and every Z* separator to a space;
//   2. put spaces around CJK ideographs (the blocks BERT lists), when tokenizeChineseChars;
//   3. NFC, then split on whitespace;
//   4. per word: Python's str.lower() (final sigma and U+0130 included) when lowerCase; NFD and
//      drop category Mn when stripAccents; split off every punctuation character (category P*
//      and ASCII 33-47, 58-64, 91-96, 123-126) as a token of its own;
//   5. WordPiece: greedy longest match first, continuations prefixed "##"; a word that does not
//      segment completely, or is longer than maxInputCharsPerWord characters, is one [UNK].
// Invalid UTF-8 never throws: each bad byte reads as U+FFFD, which step 1 drops (what Python
// gives for bytes decoded with errors="replace").
// Not done, on purpose: literal special tokens in the text ("[SEP]") are plain text here
// (HF splits them out as specials), so user data cannot inject structure.
//
// Unicode data (categories, case, decomposition) comes from utf8proc. Thread safety: all const
// members may be called concurrently; the scratch buffers are thread_local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eleanor {

struct WordPieceOptions {
  bool lowerCase = true;
  // Unset: follows lowerCase, as in BertTokenizer(strip_accents=None).
  std::optional<bool> stripAccents;
  bool tokenizeChineseChars = true;
  // encode(): [CLS] + pieces + [SEP], at most this many ids (at least 2).
  int maxSeqLen = 128;
  int maxInputCharsPerWord = 100;
};

class WordPieceTokenizer {
 public:
  // Reads a BERT vocab.txt: one token per line, id = line number (0-based); \n, \r\n and \r end
  // lines (Python's universal newlines); a repeated token takes its last line's id, as in HF.
  // Throws UserError naming the path (and line) when the file cannot be read, is empty, has a
  // line that is not UTF-8, lacks one of [PAD] [UNK] [CLS] [SEP], or the options are invalid.
  static WordPieceTokenizer fromFile(const std::string& vocabPath, WordPieceOptions options = {});
  // The same from tokens in id order; `source` names them in error messages.
  static WordPieceTokenizer fromTokens(std::vector<std::string> tokens, WordPieceOptions options,
                                       const std::string& source);

  // Steps 1-4: BasicTokenizer.tokenize(text).
  std::vector<std::string> basicTokens(std::string_view text) const;
  // Steps 1-5: BertTokenizer.tokenize(text), no specials, no truncation.
  std::vector<std::string> wordPieces(std::string_view text) const;
  // [CLS] ids... [SEP], the pieces truncated so that the total is <= maxSeqLen.
  std::vector<int32_t> encode(std::string_view text) const;
  // encode() into `ids` (cleared first), reusing its storage: the batch path.
  void encodeInto(std::string_view text, std::vector<int32_t>& ids) const;

  int32_t padId() const { return padId_; }
  int32_t clsId() const { return clsId_; }
  int32_t sepId() const { return sepId_; }
  int32_t unkId() const { return unkId_; }
  size_t vocabSize() const { return idToToken_.size(); }
  // The token with this id (a line of vocab.txt); id must be < vocabSize().
  const std::string& token(int32_t id) const { return idToToken_[static_cast<size_t>(id)]; }
  const WordPieceOptions& options() const { return options_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
  };
  using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  WordPieceTokenizer() = default;

  // Calls sink(word) for each basic token, in order, until sink returns false. The view is
  // valid only during the call. Returns false when the sink stopped it.
  template <class Sink>
  bool forEachBasicToken(std::string_view text, Sink&& sink) const;
  // Appends the WordPiece ids of one basic token to `ids`, stopping at `limit` ids in total.
  void appendWordPieces(std::string_view word, std::vector<int32_t>& ids, size_t limit) const;
  int32_t lookup(std::string_view piece) const;

  WordPieceOptions options_;
  bool stripAccents_ = true;
  Vocab vocab_;
  std::vector<std::string> idToToken_;
  // No vocabulary entry is longer (bytes): longer candidates are not looked up.
  size_t maxTokenBytes_ = 0;
  int32_t padId_ = -1;
  int32_t clsId_ = -1;
  int32_t sepId_ = -1;
  int32_t unkId_ = -1;
};

}  // namespace eleanor
