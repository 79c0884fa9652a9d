#include "launcher/slurm_allocation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>
#include <string_view>

namespace eleanor {
namespace {

std::optional<int> positive(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

std::optional<int> positiveVar(const std::map<std::string, std::string>& vars,
                               const std::string& name) {
  const auto it = vars.find(name);
  return it == vars.end() ? std::nullopt : positive(it->second);
}

// "2" or "a100:2" (sbatch --gpus-per-node=[type:]N); a list of several types is not one count.
std::optional<int> gpuCountSpec(const std::map<std::string, std::string>& vars,
                                const std::string& name) {
  const auto it = vars.find(name);
  if (it == vars.end() || it->second.find(',') != std::string::npos) return std::nullopt;
  const size_t colon = it->second.rfind(':');
  return positive(colon == std::string::npos ? std::string_view(it->second)
                                             : std::string_view(it->second).substr(colon + 1));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool isPluginName(std::string_view word) {
  return !word.empty() && std::islower(static_cast<unsigned char>(word.front())) &&
         std::all_of(word.begin(), word.end(), [](char c) {
           return std::islower(static_cast<unsigned char>(c)) ||
                  std::isdigit(static_cast<unsigned char>(c)) || c == '_';
         });
}

}  // namespace

std::optional<SlurmAllocation> readSlurmAllocation(const std::map<std::string, std::string>& vars) {
  const auto job = vars.find("SLURM_JOB_ID");
  if (job == vars.end() || job->second.empty()) return std::nullopt;
  SlurmAllocation allocation;
  allocation.jobId = job->second;
  const auto first = [&](const char* a, const char* b) {
    const std::optional<int> value = positiveVar(vars, a);
    return value ? value : positiveVar(vars, b);
  };
  allocation.nodes = first("SLURM_JOB_NUM_NODES", "SLURM_NNODES").value_or(1);
  allocation.tasks = first("SLURM_NTASKS", "SLURM_NPROCS");
  allocation.tasksPerNode = positiveVar(vars, "SLURM_NTASKS_PER_NODE");
  allocation.cpusPerTask = positiveVar(vars, "SLURM_CPUS_PER_TASK");
  allocation.cpusOnNode = positiveVar(vars, "SLURM_CPUS_ON_NODE");
  allocation.gpusPerNode = gpuCountSpec(vars, "SLURM_GPUS_PER_NODE");
  if (!allocation.gpusPerNode) allocation.gpusPerNode = positiveVar(vars, "SLURM_GPUS_ON_NODE");
  allocation.stepTasks = positiveVar(vars, "SLURM_STEP_NUM_TASKS").value_or(0);
  return allocation;
}

std::vector<std::string> parseSrunMpiList(const std::string& output) {
  std::vector<std::string> plugins;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::string_view text = trim(line);
    if (text.substr(0, 5) == "srun:") text = trim(text.substr(5));
    // A plugin line is one name ("pmix"); the versions line lists several after its colon:
    // "specific pmix plugin versions available: pmix_v3,pmix_v4". Headers ("MPI plugin types
    // are...") and messages ("error: ...") are neither.
    const size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.substr(0, colon).find("available") == std::string_view::npos) continue;
      text = text.substr(colon + 1);
    } else if (text.find_first_of(" \t") != std::string_view::npos) {
      continue;
    }
    std::string words(text);
    std::replace(words.begin(), words.end(), ',', ' ');
    std::istringstream split(words);
    for (std::string word; split >> word;) {
      if (isPluginName(word) && std::find(plugins.begin(), plugins.end(), word) == plugins.end()) {
        plugins.push_back(word);
      }
    }
  }
  return plugins;
}

std::optional<std::string> pmixPlugin(const std::vector<std::string>& plugins) {
  if (std::find(plugins.begin(), plugins.end(), "pmix") != plugins.end()) return "pmix";
  for (const std::string& plugin : plugins) {
    if (plugin.rfind("pmix_v", 0) == 0) return plugin;
  }
  return std::nullopt;
}

}  // namespace eleanor
