-- statement 1
SELECT
  COUNT(*) AS "CountStar()"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t0"."journey_key",
      COUNT(DISTINCT "t0"."customer_id") AS "n"
    FROM "journey_steps" AS "t0"
    GROUP BY
      1
  ) AS "t1"
  WHERE
    "t1"."n" > 1
) AS "t2";

-- statement 2
SELECT
  *
FROM (
  SELECT
    "t15"."variant",
    COUNT(*) AS "n_journeys",
    COUNT(DISTINCT "t15"."customer_id") AS "n_customers",
    MAX("t15"."n_steps") AS "n_steps"
  FROM (
    SELECT
      "t14".*
      EXCLUDE ("trace")
    FROM (
      SELECT
        "t13".*
        EXCLUDE ("steps")
      FROM (
        SELECT
          "t12"."journey_key",
          "t12"."steps",
          "t12"."customer_id",
          "t12"."start_ts",
          "t12"."end_ts",
          "t12"."start_date",
          LIST_APPLY(
            LIST_SORT("t12"."steps"),
            LAMBDA __ibis_param_s__ : (
              __ibis_param_s__
            )."activity"
          ) AS "trace",
          ARRAY_TO_STRING(
            LIST_APPLY(
              LIST_SORT("t12"."steps"),
              LAMBDA __ibis_param_s__ : (
                __ibis_param_s__
              )."activity"
            ),
            ' → '
          ) AS "variant",
          ARRAY_LENGTH(
            LIST_APPLY(
              LIST_SORT("t12"."steps"),
              LAMBDA __ibis_param_s__ : (
                __ibis_param_s__
              )."activity"
            )
          ) AS "n_steps"
        FROM (
          SELECT
            "t11"."journey_key",
            ARRAY_AGG({'pos': "t11"."pos", 'activity': "t11"."activity"}) FILTER(WHERE
              NOT {'pos': "t11"."pos", 'activity': "t11"."activity"} IS NULL) AS "steps",
            MIN("t11"."customer_id") AS "customer_id",
            MIN("t11"."event_ts") AS "start_ts",
            MAX("t11"."event_ts") AS "end_ts",
            MIN("t11"."event_date") AS "start_date"
          FROM (
            SELECT
              "t10"."customer_id",
              "t10"."journey_id",
              "t10"."event_ts",
              "t10"."event_date",
              "t10"."activity",
              "t10"."touchpoint",
              "t10"."channel",
              "t10"."department",
              "t10"."device",
              "t10"."stage",
              "t10"."amount",
              "t10"."source",
              "t10"."seq",
              "t10"."attributes",
              "t10"."file_id",
              "t10"."journey_key",
              "t10"."pos",
              "t10"."next_activity",
              "t10"."journey_start_ts",
              "t10"."journey_start_date",
              "t10"."seconds_to_next",
              "t10"."first_in_journey",
              "t10"."first_for_customer",
              "t10"."is_start",
              "t10"."is_start"
              AND (
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t10"."customer_id", "t10"."activity", "t10"."is_start"
                    ORDER BY "t10"."event_ts" ASC, "t10"."seq" ASC, "t10"."journey_key" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0
              ) AS "first_start_for_customer"
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
                "t9"."pos",
                "t9"."next_activity",
                "t9"."journey_start_ts",
                "t9"."journey_start_date",
                "t9"."seconds_to_next",
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t9"."journey_key", "t9"."activity", "t9"."next_activity"
                    ORDER BY "t9"."pos" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0 AS "first_in_journey",
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t9"."customer_id", "t9"."activity", "t9"."next_activity"
                    ORDER BY "t9"."event_ts" ASC, "t9"."seq" ASC, "t9"."journey_key" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0 AS "first_for_customer",
                "t9"."pos" = 1 AS "is_start"
              FROM (
                SELECT
                  "t8".*
                  EXCLUDE ("next_ts")
                FROM (
                  SELECT
                    "t7"."customer_id",
                    "t7"."journey_id",
                    "t7"."event_ts",
                    "t7"."event_date",
                    "t7"."activity",
                    "t7"."touchpoint",
                    "t7"."channel",
                    "t7"."department",
                    "t7"."device",
                    "t7"."stage",
                    "t7"."amount",
                    "t7"."source",
                    "t7"."seq",
                    "t7"."attributes",
                    "t7"."file_id",
                    "t7"."journey_key",
                    "t7"."pos",
                    "t7"."next_activity",
                    "t7"."next_ts",
                    "t7"."journey_start_ts",
                    "t7"."journey_start_date",
                    (
                      EPOCH(CAST(DATE_TRUNC('SECOND', "t7"."next_ts") AS TIMESTAMP)) + (
                        (
                          EXTRACT('MILLISECOND' FROM "t7"."next_ts") % 1000
                        ) / 1000
                      )
                    ) - (
                      EPOCH(CAST(DATE_TRUNC('SECOND', "t7"."event_ts") AS TIMESTAMP)) + (
                        (
                          EXTRACT('MILLISECOND' FROM "t7"."event_ts") % 1000
                        ) / 1000
                      )
                    ) AS "seconds_to_next"
                  FROM (
                    SELECT
                      "t6"."customer_id",
                      "t6"."journey_id",
                      "t6"."event_ts",
                      "t6"."event_date",
                      "t6"."activity",
                      "t6"."touchpoint",
                      "t6"."channel",
                      "t6"."department",
                      "t6"."device",
                      "t6"."stage",
                      "t6"."amount",
                      "t6"."source",
                      "t6"."seq",
                      "t6"."attributes",
                      "t6"."file_id",
                      "t6"."journey_key",
                      (
                        ROW_NUMBER() OVER (
                          PARTITION BY "t6"."journey_key"
                          ORDER BY "t6"."event_ts" ASC, "t6"."seq" ASC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                        ) - 1
                      ) + 1 AS "pos",
                      LEAD("t6"."activity") OVER (
                        PARTITION BY "t6"."journey_key"
                        ORDER BY "t6"."event_ts" ASC, "t6"."seq" ASC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "next_activity",
                      LEAD("t6"."event_ts") OVER (
                        PARTITION BY "t6"."journey_key"
                        ORDER BY "t6"."event_ts" ASC, "t6"."seq" ASC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "next_ts",
                      MIN("t6"."event_ts") OVER (
                        PARTITION BY "t6"."journey_key"
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "journey_start_ts",
                      MIN("t6"."event_date") OVER (
                        PARTITION BY "t6"."journey_key"
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "journey_start_date"
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
                          COALESCE("t0"."journey_id", "t0"."customer_id") AS "journey_key"
                        FROM "events" AS "t0"
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
                ) AS "t8"
              ) AS "t9"
            ) AS "t10"
          ) AS "t11"
          GROUP BY
            1
        ) AS "t12"
      ) AS "t13"
    ) AS "t14"
  ) AS "t15"
  GROUP BY
    1
) AS "t16"
ORDER BY
  "t16"."n_journeys" DESC,
  "t16"."variant" ASC;
