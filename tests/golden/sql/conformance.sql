-- statement 1
SELECT
  "t21"."customer_id",
  "t21"."start_ts",
  NOT "t21"."t6" IS NULL AS "completed",
  "t21"."t6" AS "completed_ts",
  (
    EPOCH(CAST(DATE_TRUNC('SECOND', "t21"."t6") AS TIMESTAMP)) + (
      (
        EXTRACT('MILLISECOND' FROM "t21"."t6") % 1000
      ) / 1000
    )
  ) - (
    EPOCH(CAST(DATE_TRUNC('SECOND', "t21"."start_ts") AS TIMESTAMP)) + (
      (
        EXTRACT('MILLISECOND' FROM "t21"."start_ts") % 1000
      ) / 1000
    )
  ) AS "completion_seconds",
  (
    EPOCH(CAST(DATE_TRUNC('SECOND', "t21"."start_ts") AS TIMESTAMP)) + (
      (
        EXTRACT('MILLISECOND' FROM "t21"."start_ts") % 1000
      ) / 1000
    ) + 2592000.0
  ) > (
    EPOCH(CAST(DATE_TRUNC('SECOND', "t21"."data_end_ts") AS TIMESTAMP)) + (
      (
        EXTRACT('MILLISECOND' FROM "t21"."data_end_ts") % 1000
      ) / 1000
    )
  ) AS "open_window",
  "t21"."n_events",
  4 AS "n_required",
  CAST(COALESCE("t21"."done__0", FALSE) AS BIGINT) + 0 + CAST(COALESCE("t21"."done__1" AND (
    COALESCE("t21"."f0", 0) < "t21"."f1"
  ), FALSE) AS BIGINT) + CAST(COALESCE(
    "t21"."done__2"
    AND (
      COALESCE("t21"."f0", 0) < "t21"."f2"
    )
    AND (
      COALESCE("t21"."f1", 0) < "t21"."f2"
    ),
    FALSE
  ) AS BIGINT) + CAST(COALESCE(
    "t21"."done__6"
    AND (
      COALESCE("t21"."f0", 0) < "t21"."f6"
    )
    AND (
      COALESCE("t21"."f1", 0) < "t21"."f6"
    )
    AND (
      COALESCE("t21"."f2", 0) < "t21"."f6"
    ),
    FALSE
  ) AS BIGINT) AS "n_in_order",
  CAST(CAST(COALESCE("t21"."done__0", FALSE) AS BIGINT) + 0 + CAST(COALESCE("t21"."done__1" AND (
    COALESCE("t21"."f0", 0) < "t21"."f1"
  ), FALSE) AS BIGINT) + CAST(COALESCE(
    "t21"."done__2"
    AND (
      COALESCE("t21"."f0", 0) < "t21"."f2"
    )
    AND (
      COALESCE("t21"."f1", 0) < "t21"."f2"
    ),
    FALSE
  ) AS BIGINT) + CAST(COALESCE(
    "t21"."done__6"
    AND (
      COALESCE("t21"."f0", 0) < "t21"."f6"
    )
    AND (
      COALESCE("t21"."f1", 0) < "t21"."f6"
    )
    AND (
      COALESCE("t21"."f2", 0) < "t21"."f6"
    ),
    FALSE
  ) AS BIGINT) AS DOUBLE) / 4 AS "fitness",
  (
    "t21"."n_unexpected" > 0
  )
  OR (
    FALSE
    OR "t21"."missing__1"
    OR "t21"."missing__2"
    OR (
      FALSE OR "t21"."out_of_order__1" OR "t21"."out_of_order__2"
    )
    OR (
      FALSE OR "t21"."too_slow__1" OR "t21"."too_slow__2" OR "t21"."too_slow__3"
    )
    OR (
      FALSE OR "t21"."repeated__0" OR "t21"."repeated__1" OR "t21"."repeated__2"
    )
  ) AS "deviating",
  FALSE OR "t21"."missing__1" OR "t21"."missing__2" AS "missing",
  FALSE OR "t21"."out_of_order__1" OR "t21"."out_of_order__2" AS "out_of_order",
  FALSE OR "t21"."too_slow__1" OR "t21"."too_slow__2" OR "t21"."too_slow__3" AS "too_slow",
  FALSE OR "t21"."repeated__0" OR "t21"."repeated__1" OR "t21"."repeated__2" AS "repeated",
  "t21"."n_unexpected" > 0 AS "unexpected",
  "t21"."n_unexpected",
  CASE
    WHEN "t21"."repeated__0"
    THEN 'Sign up'
    WHEN "t21"."missing__1"
    THEN 'Verify e-mail address'
    WHEN "t21"."out_of_order__1"
    THEN 'Verify e-mail address'
    WHEN "t21"."too_slow__1"
    THEN 'Verify e-mail address'
    WHEN "t21"."repeated__1"
    THEN 'Verify e-mail address'
    WHEN "t21"."missing__2"
    THEN 'Complete profile'
    WHEN "t21"."out_of_order__2"
    THEN 'Complete profile'
    WHEN "t21"."too_slow__2"
    THEN 'Complete profile'
    WHEN "t21"."repeated__2"
    THEN 'Complete profile'
    WHEN "t21"."too_slow__3"
    THEN 'Set preferences'
    ELSE CAST(NULL AS TEXT)
  END AS "first_deviation_step",
  CASE
    WHEN "t21"."repeated__0"
    THEN 'repeated'
    WHEN "t21"."missing__1"
    THEN 'missing'
    WHEN "t21"."out_of_order__1"
    THEN 'out_of_order'
    WHEN "t21"."too_slow__1"
    THEN 'too_slow'
    WHEN "t21"."repeated__1"
    THEN 'repeated'
    WHEN "t21"."missing__2"
    THEN 'missing'
    WHEN "t21"."out_of_order__2"
    THEN 'out_of_order'
    WHEN "t21"."too_slow__2"
    THEN 'too_slow'
    WHEN "t21"."repeated__2"
    THEN 'repeated'
    WHEN "t21"."too_slow__3"
    THEN 'too_slow'
    ELSE CAST(NULL AS TEXT)
  END AS "first_deviation",
  "t21"."missing__1",
  "t21"."missing__2",
  "t21"."out_of_order__1",
  "t21"."out_of_order__2",
  "t21"."too_slow__1",
  "t21"."too_slow__2",
  "t21"."too_slow__3",
  "t21"."repeated__0",
  "t21"."repeated__1",
  "t21"."repeated__2",
  "t21"."done__0",
  "t21"."done__1",
  "t21"."done__2",
  "t21"."done__6"
FROM (
  SELECT
    "t20"."customer_id",
    "t20"."start_ts",
    "t20"."n_events",
    "t20"."n_unexpected",
    "t20"."f0",
    "t20"."t0",
    "t20"."n0",
    "t20"."f1",
    "t20"."t1",
    "t20"."n1",
    "t20"."f2",
    "t20"."t2",
    "t20"."n2",
    "t20"."f3",
    "t20"."t3",
    "t20"."n3",
    "t20"."f4",
    "t20"."t4",
    "t20"."n4",
    "t20"."f5",
    "t20"."t5",
    "t20"."n5",
    "t20"."f6",
    "t20"."t6",
    "t20"."n6",
    "t20"."data_end_ts",
    NOT "t20"."f0" IS NULL AS "done__0",
    NOT "t20"."f1" IS NULL AS "done__1",
    NOT "t20"."f2" IS NULL AS "done__2",
    NOT "t20"."f6" IS NULL AS "done__6",
    NOT (
      NOT "t20"."f1" IS NULL
    )
    AND (
      (
        NOT "t20"."f2" IS NULL
      ) OR (
        NOT "t20"."f6" IS NULL
      )
    ) AS "missing__1",
    (
      NOT "t20"."f1" IS NULL
    )
    AND NOT (
      COALESCE((
        NOT "t20"."f1" IS NULL
      ) AND (
        COALESCE("t20"."f0", 0) < "t20"."f1"
      ), FALSE)
    ) AS "out_of_order__1",
    NOT (
      NOT "t20"."f2" IS NULL
    ) AND (
      NOT "t20"."f6" IS NULL
    ) AS "missing__2",
    (
      NOT "t20"."f2" IS NULL
    )
    AND NOT (
      COALESCE(
        (
          NOT "t20"."f2" IS NULL
        )
        AND (
          COALESCE("t20"."f0", 0) < "t20"."f2"
        )
        AND (
          COALESCE("t20"."f1", 0) < "t20"."f2"
        ),
        FALSE
      )
    ) AS "out_of_order__2",
    "t20"."n0" > 1 AS "repeated__0",
    "t20"."n1" > 1 AS "repeated__1",
    "t20"."n2" > 1 AS "repeated__2",
    COALESCE(
      (
        NOT "t20"."f1" IS NULL
      )
      AND (
        (
          (
            EPOCH(CAST(DATE_TRUNC('SECOND', "t20"."t1") AS TIMESTAMP)) + (
              (
                EXTRACT('MILLISECOND' FROM "t20"."t1") % 1000
              ) / 1000
            )
          ) - (
            EPOCH(CAST(DATE_TRUNC('SECOND', COALESCE("t20"."t0", "t20"."start_ts")) AS TIMESTAMP)) + (
              (
                EXTRACT('MILLISECOND' FROM COALESCE("t20"."t0", "t20"."start_ts")) % 1000
              ) / 1000
            )
          )
        ) > 172800.0
      ),
      FALSE
    ) AS "too_slow__1",
    COALESCE(
      (
        NOT "t20"."f2" IS NULL
      )
      AND (
        (
          (
            EPOCH(CAST(DATE_TRUNC('SECOND', "t20"."t2") AS TIMESTAMP)) + (
              (
                EXTRACT('MILLISECOND' FROM "t20"."t2") % 1000
              ) / 1000
            )
          ) - (
            EPOCH(
              CAST(DATE_TRUNC('SECOND', COALESCE("t20"."t1", "t20"."t0", "t20"."start_ts")) AS TIMESTAMP)
            ) + (
              (
                EXTRACT('MILLISECOND' FROM COALESCE("t20"."t1", "t20"."t0", "t20"."start_ts")) % 1000
              ) / 1000
            )
          )
        ) > 604800.0
      ),
      FALSE
    ) AS "too_slow__2",
    COALESCE(
      (
        NOT "t20"."f3" IS NULL
      )
      AND (
        (
          (
            EPOCH(CAST(DATE_TRUNC('SECOND', "t20"."t3") AS TIMESTAMP)) + (
              (
                EXTRACT('MILLISECOND' FROM "t20"."t3") % 1000
              ) / 1000
            )
          ) - (
            EPOCH(
              CAST(DATE_TRUNC('SECOND', COALESCE("t20"."t2", "t20"."t1", "t20"."t0", "t20"."start_ts")) AS TIMESTAMP)
            ) + (
              (
                EXTRACT('MILLISECOND' FROM COALESCE("t20"."t2", "t20"."t1", "t20"."t0", "t20"."start_ts")) % 1000
              ) / 1000
            )
          )
        ) > 86400.0
      ),
      FALSE
    ) AS "too_slow__3"
  FROM (
    SELECT
      "t19"."customer_id",
      "t19"."start_ts",
      "t19"."n_events",
      "t19"."n_unexpected",
      "t19"."f0",
      "t19"."t0",
      "t19"."n0",
      "t19"."f1",
      "t19"."t1",
      "t19"."n1",
      "t19"."f2",
      "t19"."t2",
      "t19"."n2",
      "t19"."f3",
      "t19"."t3",
      "t19"."n3",
      "t19"."f4",
      "t19"."t4",
      "t19"."n4",
      "t19"."f5",
      "t19"."t5",
      "t19"."n5",
      "t19"."f6",
      "t19"."t6",
      "t19"."n6",
      "t6"."data_end_ts"
    FROM (
      SELECT
        "t17"."customer_id",
        "t17"."start_ts",
        COUNT(*) AS "n_events",
        COUNT(*) FILTER(WHERE
          FALSE) AS "n_unexpected",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('signup')) AS "f0",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('signup')) AS "t0",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('signup')) AS "n0",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('verify_email')) AS "f1",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('verify_email')) AS "t1",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('verify_email')) AS "n1",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('complete_profile')) AS "f2",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('complete_profile')) AS "t2",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('complete_profile')) AS "n2",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('set_preferences')) AS "f3",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('set_preferences')) AS "t3",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('set_preferences')) AS "n3",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('view_product', 'search', 'view_category', 'view_promo')) AS "f4",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('view_product', 'search', 'view_category', 'view_promo')) AS "t4",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('view_product', 'search', 'view_category', 'view_promo')) AS "n4",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('checkout_start')) AS "f5",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('checkout_start')) AS "t5",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('checkout_start')) AS "n5",
        MIN("t17"."pos") FILTER(WHERE
          "t17"."activity" IN ('checkout_confirmed', 'order_placed')) AS "f6",
        MIN("t17"."event_ts") FILTER(WHERE
          "t17"."activity" IN ('checkout_confirmed', 'order_placed')) AS "t6",
        COUNT(*) FILTER(WHERE
          "t17"."activity" IN ('checkout_confirmed', 'order_placed')) AS "n6"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t15"."customer_id",
            "t15"."event_ts",
            "t15"."seq",
            "t15"."activity",
            "t15"."start_ts",
            "t15"."start_seq",
            "t15"."pos",
            MIN("t15"."pos") FILTER(WHERE
              "t15"."activity" IN ('checkout_confirmed', 'order_placed')) OVER (
              PARTITION BY "t15"."customer_id"
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "goal_pos"
          FROM (
            SELECT
              "t14"."customer_id",
              "t14"."event_ts",
              "t14"."seq",
              "t14"."activity",
              "t14"."start_ts",
              "t14"."start_seq",
              (
                ROW_NUMBER() OVER (
                  PARTITION BY "t14"."customer_id"
                  ORDER BY "t14"."event_ts" ASC, "t14"."seq" ASC
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                ) - 1
              ) + 1 AS "pos"
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t4"."customer_id",
                  "t4"."event_ts",
                  "t4"."seq",
                  "t4"."activity",
                  "t12"."start_ts",
                  "t12"."start_seq"
                FROM (
                  SELECT
                    "t0"."customer_id",
                    "t0"."journey_id",
                    "t0"."event_ts",
                    "t0"."event_date",
                    "t0"."activity",
                    "t0"."touchpoint",
                    "t0"."channel",
                    "t0"."department",
                    "t0"."device",
                    "t0"."stage",
                    "t0"."amount",
                    "t0"."source",
                    "t0"."seq",
                    "t0"."attributes",
                    "t0"."file_id",
                    "t0"."customer_id" AS "journey_key"
                  FROM "events" AS "t0"
                ) AS "t4"
                SEMI JOIN (
                  SELECT
                    "t1"."customer_id"
                  FROM "customers" AS "t1"
                  WHERE
                    "t1"."segment" IN ('Premium')
                ) AS "t7"
                  ON "t4"."customer_id" = "t7"."customer_id"
                INNER JOIN (
                  SELECT
                    "t10"."customer_id",
                    "t10"."event_ts" AS "start_ts",
                    "t10"."seq" AS "start_seq"
                  FROM (
                    SELECT
                      "t9"."customer_id",
                      "t9"."journey_id",
                      "t9"."event_ts",
                      "t9"."event_date",
                      "t9"."activity",
                      "t9"."touchpoint",
                      "t9"."channel",
                      "t9"."department",
                      "t9"."device",
                      "t9"."stage",
                      "t9"."amount",
                      "t9"."source",
                      "t9"."seq",
                      "t9"."attributes",
                      "t9"."file_id",
                      "t9"."journey_key",
                      ROW_NUMBER() OVER (
                        PARTITION BY "t9"."customer_id"
                        ORDER BY "t9"."event_ts" ASC, "t9"."seq" ASC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) - 1 AS "k"
                    FROM (
                      SELECT
                        *
                      FROM (
                        SELECT
                          "t4"."customer_id",
                          "t4"."journey_id",
                          "t4"."event_ts",
                          "t4"."event_date",
                          "t4"."activity",
                          "t4"."touchpoint",
                          "t4"."channel",
                          "t4"."department",
                          "t4"."device",
                          "t4"."stage",
                          "t4"."amount",
                          "t4"."source",
                          "t4"."seq",
                          "t4"."attributes",
                          "t4"."file_id",
                          "t4"."journey_key"
                        FROM (
                          SELECT
                            "t0"."customer_id",
                            "t0"."journey_id",
                            "t0"."event_ts",
                            "t0"."event_date",
                            "t0"."activity",
                            "t0"."touchpoint",
                            "t0"."channel",
                            "t0"."department",
                            "t0"."device",
                            "t0"."stage",
                            "t0"."amount",
                            "t0"."source",
                            "t0"."seq",
                            "t0"."attributes",
                            "t0"."file_id",
                            "t0"."customer_id" AS "journey_key"
                          FROM "events" AS "t0"
                        ) AS "t4"
                        SEMI JOIN (
                          SELECT
                            "t1"."customer_id"
                          FROM "customers" AS "t1"
                          WHERE
                            "t1"."segment" IN ('Premium')
                        ) AS "t7"
                          ON "t4"."customer_id" = "t7"."customer_id"
                      ) AS "t8"
                      WHERE
                        "t8"."activity" = 'signup'
                    ) AS "t9"
                  ) AS "t10"
                  WHERE
                    "t10"."k" = 0
                ) AS "t12"
                  ON "t4"."customer_id" = "t12"."customer_id"
              ) AS "t13"
              WHERE
                (
                  (
                    "t13"."event_ts" > "t13"."start_ts"
                  )
                  OR (
                    (
                      "t13"."event_ts" = "t13"."start_ts"
                    )
                    AND (
                      "t13"."seq" >= "t13"."start_seq"
                    )
                  )
                )
                AND (
                  (
                    EPOCH(CAST(DATE_TRUNC('SECOND', "t13"."event_ts") AS TIMESTAMP)) + (
                      (
                        EXTRACT('MILLISECOND' FROM "t13"."event_ts") % 1000
                      ) / 1000
                    )
                  ) - (
                    EPOCH(CAST(DATE_TRUNC('SECOND', "t13"."start_ts") AS TIMESTAMP)) + (
                      (
                        EXTRACT('MILLISECOND' FROM "t13"."start_ts") % 1000
                      ) / 1000
                    )
                  )
                ) <= 2592000.0
            ) AS "t14"
          ) AS "t15"
        ) AS "t16"
        WHERE
          (
            "t16"."goal_pos" IS NULL
          ) OR (
            "t16"."pos" <= "t16"."goal_pos"
          )
      ) AS "t17"
      GROUP BY
        1,
        2
    ) AS "t19"
    CROSS JOIN (
      SELECT
        MAX("t0"."event_ts") AS "data_end_ts"
      FROM "events" AS "t0"
    ) AS "t6"
  ) AS "t20"
) AS "t21"
ORDER BY
  "t21"."start_ts" ASC,
  "t21"."customer_id" ASC;
