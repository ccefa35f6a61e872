"""Names of the system attributes hpo stores on Optuna studies and trials (one place).

A leaf module: it imports nothing from hpo.
"""

# study
ARTIFACT_STORE = "hpo:artifact_store"  # URL of the checkpoint store (hpo.artifacts)
ARTIFACT_DIR = "hpo:artifact_dir"  # its directory, as studies before object stores record it
CLEANED = "hpo:cleaned"  # numbers of the trials whose checkpoints `hpo clean` removed
MAX_RESOURCE = "hpo:max_resource"  # resource a plain trial trains for
SCHEDULER_LADDER = "hpo:scheduler:ladder"  # [min_resource, max_resource, eta] it started with
SCHEDULER_MAX = "hpo:scheduler:max_resource"  # a scheduler's maximum resource, once deepened
METRIC = "hpo:metric"  # what the objective's value is, e.g. "mean training return"
RESOURCE = "hpo:resource"  # what the resource counts, e.g. "environment steps"

# study: search space and samplers
SPACE_HINTS = "hpo:space:hints"  # {param: {"default", "scale"}} of hpo's helpers (hpo.space)
CARBS = "hpo:carbs"  # {"cost": <cost mode>} of the study's CARBS sampler
LLM_WARM_START = "hpo:llm:warm_start"  # the LLM sampler's zero-shot configurations

# trial: Optuna's own (the parameters a trial is given before it samples; Optuna reads
# them from the trial's system attributes after ``BaseSampler.before_trial``)
FIXED_PARAMS = "fixed_params"

# trial: continuation
PARENT = "hpo:parent"  # number of the trial this one continues
START = "hpo:start"  # resource the trial starts from
STOP = "hpo:stop"  # resource the trial trains up to
CHECKPOINT = "hpo:checkpoint"  # artifact id of the latest complete checkpoint
CHECKPOINT_STEP = "hpo:checkpoint_step"  # resource reached by that checkpoint
CHECKPOINT_AT = "hpo:checkpoint_at"  # [artifact id, step]: the two, written as one
BUDGET_READ = "hpo:budget_read"  # set when the objective asked hpo.budget for its range
UNREADABLE = "hpo:unreadable_parent"  # the parent whose checkpoint resume could not read
SECONDS = "hpo:seconds"  # training seconds of a segment, where known better than its datetimes

# trial: schedulers (segments of one configuration)
CONFIG = "hpo:config"  # configuration id: number of the first trial of the chain
BRACKET = "hpo:bracket"  # "iteration/first rung" of the scheduler bracket it belongs to
RUNG = "hpo:rung"  # index of the rung the segment trains up to
MEMBER = "hpo:member"  # population-based training: the member a segment belongs to
EXPLOIT = "hpo:exploit"  # id of the member whose checkpoint this segment copied
SEGMENT_OF = (CONFIG, BRACKET, RUNG, MEMBER, EXPLOIT)  # what a retry of a segment keeps

# trial: model-based samplers
PENDING_PARAMS = "hpo:gp:params"  # prefix of ":<i>" chunks: the relative params of a running
# trial, JSON, so other workers' models see it as pending (hpo.samplers._pending)
CARBS_KIND = "hpo:carbs:kind"  # how CARBS chose it: "random" | "resample" | "model" | "fallback"
LLM = "hpo:llm"  # what the LLM sampler did for the trial (source, fallback, ...)

# trial: failures
FAIL_REASON = "hpo:fail_reason"
TRACEBACK = "hpo:traceback"

# trial: runner
HEARTBEAT = "hpo:heartbeat"  # unix time of the worker's last heartbeat for a RUNNING trial
WORKER = "hpo:worker"  # host:pid/slot of the worker that runs the trial
RETRY_OF = "hpo:retry_of"  # number of the failed trial this one retries
RETRY_COUNT = "hpo:retry_count"  # how many retries led to this trial
LOG = "hpo:log"  # path of the trial's stdout/stderr log

# study: runner
SWEEP = "hpo:sweep"  # the sweep file's settings, so `hpo worker` can join with the name alone
