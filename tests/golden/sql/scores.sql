-- statement 1
SELECT DISTINCT
  "t0"."instrument"
FROM "feedback" AS "t0"
WHERE
  NOT "t0"."instrument" IS NULL;

-- statement 2
SELECT DISTINCT
  *
FROM (
  SELECT
    COALESCE("t4"."scale_min", 0.0) AS "smin",
    COALESCE("t4"."scale_max", 10.0) AS "smax",
    COALESCE("t4"."direction", 'higher_is_better') AS "way"
  FROM (
    SELECT
      *
    FROM "feedback" AS "t0"
    WHERE
      "t0"."instrument" IN ('nps')
      AND NOT "t0"."score" IS NULL
      AND TRUE
      AND "t0"."feedback_date" >= MAKE_DATE(2026, 1, 1)
  ) AS "t4"
  SEMI JOIN (
    SELECT
      "t1"."customer_id"
    FROM "customers" AS "t1"
    WHERE
      "t1"."segment" IN ('Premium')
  ) AS "t5"
    ON "t4"."customer_id" = "t5"."customer_id"
) AS "t6";

-- statement 3
SELECT
  "t7"."period",
  COUNT(*) AS "n",
  COUNT(DISTINCT "t7"."customer_id") AS "n_customers",
  COUNT(*) FILTER(WHERE
    "t7"."score" >= 9) AS "n_good",
  COUNT(*) FILTER(WHERE
    "t7"."score" <= 6) AS "n_bad",
  COUNT(*) FILTER(WHERE
    CASE
      WHEN COALESCE("t7"."direction", 'higher_is_better') = 'lower_is_better'
      THEN "t7"."score" <= (
        COALESCE("t7"."scale_min", 0.0) + 1
      )
      ELSE "t7"."score" >= (
        COALESCE("t7"."scale_max", 10.0) - 1
      )
    END) AS "n_top2",
  SUM("t7"."score") AS "sum_y",
  SUM("t7"."score" * "t7"."score") AS "sum_y2"
FROM (
  SELECT
    "t6"."feedback_id",
    "t6"."customer_id",
    "t6"."journey_id",
    "t6"."feedback_ts",
    "t6"."feedback_date",
    "t6"."instrument",
    "t6"."score",
    "t6"."scale_min",
    "t6"."scale_max",
    "t6"."direction",
    "t6"."touchpoint",
    "t6"."channel",
    "t6"."text",
    "t6"."source",
    "t6"."seq",
    "t6"."attributes",
    "t6"."file_id",
    CAST(CAST(DATE_TRUNC('MONTH', "t6"."feedback_date") AS TIMESTAMP) AS DATE) AS "period"
  FROM (
    SELECT
      "t4"."feedback_id",
      "t4"."customer_id",
      "t4"."journey_id",
      "t4"."feedback_ts",
      "t4"."feedback_date",
      "t4"."instrument",
      "t4"."score",
      "t4"."scale_min",
      "t4"."scale_max",
      "t4"."direction",
      "t4"."touchpoint",
      "t4"."channel",
      "t4"."text",
      "t4"."source",
      "t4"."seq",
      "t4"."attributes",
      "t4"."file_id"
    FROM (
      SELECT
        *
      FROM "feedback" AS "t0"
      WHERE
        "t0"."instrument" IN ('nps')
        AND NOT "t0"."score" IS NULL
        AND TRUE
        AND "t0"."feedback_date" >= MAKE_DATE(2026, 1, 1)
    ) AS "t4"
    SEMI JOIN (
      SELECT
        "t1"."customer_id"
      FROM "customers" AS "t1"
      WHERE
        "t1"."segment" IN ('Premium')
    ) AS "t5"
      ON "t4"."customer_id" = "t5"."customer_id"
  ) AS "t6"
) AS "t7"
GROUP BY
  1;
