-- Fills llm_usage_daily from every insert into llm_usage. No POPULATE: rows inserted before the view
-- existed are not rolled up (backfill explicitly with INSERT INTO llm_usage_daily SELECT ... if needed).
-- Output types equal the target's: sum(Int32) is Int64, sum(Decimal64(6)) is Decimal(38, 6) = Decimal128(6),
-- count() is UInt64 and is cast to Int64.
CREATE MATERIALIZED VIEW llm_usage_daily_mv TO llm_usage_daily
AS SELECT
    toDate(event_time)                 AS day,
    user_id,
    workspace_id,
    model,
    agent_id,
    sum(prompt_tokens)                 AS total_prompt_tokens,
    sum(completion_tokens)             AS total_completion_tokens,
    sum(total_tokens)                  AS total_tokens,
    CAST(sum(cost_usd), 'Decimal128(6)') AS total_cost_usd,
    CAST(count(), 'Int64')             AS request_count
FROM llm_usage
GROUP BY day, user_id, workspace_id, model, agent_id;

-- chmigrate:down
DROP VIEW IF EXISTS llm_usage_daily_mv;
