-- statement 1
SELECT
  *
FROM (
  SELECT
    "t19"."variant",
    COUNT(*) AS "n_journeys",
    COUNT(DISTINCT "t19"."customer_id") AS "n_customers",
    MAX("t19"."n_steps") AS "n_steps"
  FROM (
    SELECT
      "t18".*
      EXCLUDE ("trace")
    FROM (
      SELECT
        "t17".*
        EXCLUDE ("steps")
      FROM (
        SELECT
          "t16"."journey_key",
          "t16"."steps",
          "t16"."customer_id",
          "t16"."start_ts",
          "t16"."end_ts",
          "t16"."start_date",
          LIST_APPLY(
            LIST_SORT("t16"."steps"),
            LAMBDA __ibis_param_s__ : (
              __ibis_param_s__
            )."activity"
          ) AS "trace",
          ARRAY_TO_STRING(
            LIST_APPLY(
              LIST_SORT("t16"."steps"),
              LAMBDA __ibis_param_s__ : (
                __ibis_param_s__
              )."activity"
            ),
            ' → '
          ) AS "variant",
          ARRAY_LENGTH(
            LIST_APPLY(
              LIST_SORT("t16"."steps"),
              LAMBDA __ibis_param_s__ : (
                __ibis_param_s__
              )."activity"
            )
          ) AS "n_steps"
        FROM (
          SELECT
            "t15"."journey_key",
            ARRAY_AGG({'pos': "t15"."pos", 'activity': "t15"."activity"}) FILTER(WHERE
              NOT {'pos': "t15"."pos", 'activity': "t15"."activity"} IS NULL) AS "steps",
            MIN("t15"."customer_id") AS "customer_id",
            MIN("t15"."event_ts") AS "start_ts",
            MAX("t15"."event_ts") AS "end_ts",
            MIN("t15"."event_date") AS "start_date"
          FROM (
            SELECT
              "t14"."customer_id",
              "t14"."journey_id",
              "t14"."event_ts",
              "t14"."event_date",
              "t14"."activity",
              "t14"."touchpoint",
              "t14"."channel",
              "t14"."department",
              "t14"."device",
              "t14"."stage",
              "t14"."amount",
              "t14"."source",
              "t14"."seq",
              "t14"."attributes",
              "t14"."file_id",
              "t14"."journey_key",
              "t14"."pos",
              "t14"."next_activity",
              "t14"."journey_start_ts",
              "t14"."journey_start_date",
              "t14"."seconds_to_next",
              "t14"."first_in_journey",
              "t14"."first_for_customer",
              "t14"."is_start",
              "t14"."is_start"
              AND (
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t14"."customer_id", "t14"."activity", "t14"."is_start"
                    ORDER BY "t14"."event_ts" ASC, "t14"."seq" ASC, "t14"."journey_key" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0
              ) AS "first_start_for_customer"
            FROM (
              SELECT
                "t13"."customer_id",
                "t13"."journey_id",
                "t13"."event_ts",
                "t13"."event_date",
                "t13"."activity",
                "t13"."touchpoint",
                "t13"."channel",
                "t13"."department",
                "t13"."device",
                "t13"."stage",
                "t13"."amount",
                "t13"."source",
                "t13"."seq",
                "t13"."attributes",
                "t13"."file_id",
                "t13"."journey_key",
                "t13"."pos",
                "t13"."next_activity",
                "t13"."journey_start_ts",
                "t13"."journey_start_date",
                "t13"."seconds_to_next",
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t13"."journey_key", "t13"."activity", "t13"."next_activity"
                    ORDER BY "t13"."pos" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0 AS "first_in_journey",
                (
                  ROW_NUMBER() OVER (
                    PARTITION BY "t13"."customer_id", "t13"."activity", "t13"."next_activity"
                    ORDER BY "t13"."event_ts" ASC, "t13"."seq" ASC, "t13"."journey_key" ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                  ) - 1
                ) = 0 AS "first_for_customer",
                "t13"."pos" = 1 AS "is_start"
              FROM (
                SELECT
                  "t12".*
                  EXCLUDE ("next_ts")
                FROM (
                  SELECT
                    "t11"."customer_id",
                    "t11"."journey_id",
                    "t11"."event_ts",
                    "t11"."event_date",
                    "t11"."activity",
                    "t11"."touchpoint",
                    "t11"."channel",
                    "t11"."department",
                    "t11"."device",
                    "t11"."stage",
                    "t11"."amount",
                    "t11"."source",
                    "t11"."seq",
                    "t11"."attributes",
                    "t11"."file_id",
                    "t11"."journey_key",
                    "t11"."pos",
                    "t11"."next_activity",
                    "t11"."next_ts",
                    "t11"."journey_start_ts",
                    "t11"."journey_start_date",
                    (
                      EPOCH(CAST(DATE_TRUNC('SECOND', "t11"."next_ts") AS TIMESTAMP)) + (
                        (
                          EXTRACT('MILLISECOND' FROM "t11"."next_ts") % 1000
                        ) / 1000
                      )
                    ) - (
                      EPOCH(CAST(DATE_TRUNC('SECOND', "t11"."event_ts") AS TIMESTAMP)) + (
                        (
                          EXTRACT('MILLISECOND' FROM "t11"."event_ts") % 1000
                        ) / 1000
                      )
                    ) AS "seconds_to_next"
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
                      (
                        ROW_NUMBER() OVER (
                          PARTITION BY "t10"."journey_key"
                          ORDER BY "t10"."event_ts" ASC, "t10"."seq" ASC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                        ) - 1
                      ) + 1 AS "pos",
                      LEAD("t10"."activity") OVER (
                        PARTITION BY "t10"."journey_key"
                        ORDER BY "t10"."event_ts" ASC, "t10"."seq" ASC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "next_activity",
                      LEAD("t10"."event_ts") OVER (
                        PARTITION BY "t10"."journey_key"
                        ORDER BY "t10"."event_ts" ASC, "t10"."seq" ASC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "next_ts",
                      MIN("t10"."event_ts") OVER (
                        PARTITION BY "t10"."journey_key"
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                      ) AS "journey_start_ts",
                      MIN("t10"."event_date") OVER (
                        PARTITION BY "t10"."journey_key"
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
                        WHERE
                          "t0"."channel" IN ('app')
                      ) AS "t4"
                      SEMI JOIN (
                        SELECT
                          "t1"."customer_id"
                        FROM "customers" AS "t1"
                        WHERE
                          "t1"."segment" IN ('Premium')
                      ) AS "t5"
                        ON "t4"."customer_id" = "t5"."customer_id"
                      SEMI JOIN (
                        SELECT
                          "t7"."journey_key"
                        FROM (
                          SELECT
                            "t6"."journey_key",
                            MIN("t6"."event_date") AS "first_date"
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
                              WHERE
                                "t0"."channel" IN ('app')
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
                          GROUP BY
                            1
                        ) AS "t7"
                        WHERE
                          TRUE
                          AND "t7"."first_date" >= MAKE_DATE(2026, 1, 1)
                          AND "t7"."first_date" <= MAKE_DATE(2026, 6, 30)
                      ) AS "t9"
                        ON "t4"."journey_key" = "t9"."journey_key"
                    ) AS "t10"
                  ) AS "t11"
                ) AS "t12"
              ) AS "t13"
            ) AS "t14"
          ) AS "t15"
          GROUP BY
            1
        ) AS "t16"
      ) AS "t17"
    ) AS "t18"
  ) AS "t19"
  GROUP BY
    1
) AS "t20"
ORDER BY
  "t20"."n_journeys" DESC,
  "t20"."variant" ASC;
