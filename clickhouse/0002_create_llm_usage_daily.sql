-- Daily rollups of llm_usage, filled by llm_usage_daily_mv (0003).
-- SummingMergeTree sums rows with the same key at merge time: readers must always use sum().
CREATE TABLE llm_usage_daily
(
    day                     Date,
    user_id                 UUID,
    workspace_id            UUID,
    model                   String,
    agent_id                String,
    total_prompt_tokens     Int64,
    total_completion_tokens Int64,
    total_tokens            Int64,
    total_cost_usd          Decimal128(6),
    request_count           Int64 COMMENT 'number of LLM calls that day'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (user_id, workspace_id, day, model, agent_id)
TTL day + INTERVAL 25 MONTH
COMMENT 'Daily LLM usage per user, workspace, model and agent; always read with sum()';

-- chmigrate:down
DROP TABLE IF EXISTS llm_usage_daily;
