-- Raw LLM usage events: one row per LLM call (see SCHEMA.md).
-- TTL is written on toDateTime(event_time): ClickHouse 24.8 rejects a TTL on a bare DateTime64 column (code 450).
CREATE TABLE llm_usage
(
    event_id               UUID DEFAULT generateUUIDv4() COMMENT 'unique event id',
    event_time             DateTime64(3, 'UTC') COMMENT 'when the call happened (UTC, ms)',
    user_id                UUID COMMENT 'platform user who triggered the call',
    workspace_id           UUID COMMENT 'workspace the call was made from',
    conversation_id        UUID COMMENT 'conversation context',
    message_id             String COMMENT 'message that triggered the call',
    agent_id               String COMMENT 'agent slug, e.g. wally, manager',
    agent_db_id            UUID COMMENT 'agent database id',
    model                  String COMMENT 'e.g. gpt-4o, claude-3-sonnet',
    provider               String COMMENT 'e.g. openai, anthropic',
    prompt_tokens          Int32 COMMENT 'input tokens',
    completion_tokens      Int32 COMMENT 'output tokens',
    total_tokens           Int32 COMMENT 'prompt + completion',
    tool_use_prompt_tokens Int32 COMMENT 'tokens in tool-call prompts',
    thoughts_tokens        Int32 COMMENT 'extended-thinking tokens',
    cached_tokens          Int32 COMMENT 'tokens served from the provider cache',
    cost_usd               Decimal64(6) COMMENT 'computed cost in USD',
    call_sequence          Int32 COMMENT 'order within one turn, 0-based',
    turn_id                String COMMENT 'turn id',
    session_id             String COMMENT 'session / conversation id'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (user_id, workspace_id, event_time, event_id)
TTL toDateTime(event_time) + INTERVAL 13 MONTH
COMMENT 'Raw LLM usage events, one row per LLM call; rows older than 13 months are deleted';

-- chmigrate:down
DROP TABLE IF EXISTS llm_usage;
