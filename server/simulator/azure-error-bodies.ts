// Azure OpenAI (and plain OpenAI) error bodies as they arrive on the wire, for the simulator and the test fake.

export type AzureErrorBody = {
  error: {
    message: string;
    type?: string | null;
    param?: string | null;
    code: string | null;
    status?: number;
    innererror?: {
      code: string;
      content_filter_result: Record<string, { filtered: boolean; severity?: string; detected?: boolean }>;
    };
  };
};

export type RateLimitContext = { operation?: string; apiVersion?: string };

export function rateLimitErrorBody(retryAfterSec: number, context: RateLimitContext = {}): AzureErrorBody {
  const operation = context.operation ?? "ChatCompletions_Create";
  const apiVersion = context.apiVersion ?? "2024-10-21";
  return {
    error: {
      code: "429",
      message:
        `Requests to the ${operation} Operation under Azure OpenAI API version ${apiVersion} have exceeded token rate limit ` +
        `of your current OpenAI S0 pricing tier. Please retry after ${retryAfterSec} seconds.`,
    },
  };
}

export function contentFilterErrorBody(): AzureErrorBody {
  return {
    error: {
      message:
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. " +
        "Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: " +
        "https://go.microsoft.com/fwlink/?linkid=2198766",
      type: null,
      param: "prompt",
      code: "content_filter",
      status: 400,
      innererror: {
        code: "ResponsibleAIPolicyViolation",
        content_filter_result: {
          hate: { filtered: true, severity: "high" },
          self_harm: { filtered: false, severity: "safe" },
          sexual: { filtered: false, severity: "safe" },
          violence: { filtered: false, severity: "safe" },
          jailbreak: { filtered: false, detected: false },
        },
      },
    },
  };
}

export function contextLengthErrorBody(maxTokens: number, actualTokens: number): AzureErrorBody {
  return {
    error: {
      message:
        `This model's maximum context length is ${maxTokens} tokens. However, your messages resulted in ${actualTokens} tokens. ` +
        "Please reduce the length of the messages.",
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
    },
  };
}

export function deploymentNotFoundBody(): AzureErrorBody {
  return {
    error: {
      code: "DeploymentNotFound",
      message:
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
    },
  };
}

/** The v1 form reports an unknown deployment as a 400 rather than a 404. */
export function deploymentNotMatchedBody(): AzureErrorBody {
  return {
    error: {
      message: "Could not find an existing deployment to match the model in the request.",
      type: "invalid_request_error",
      param: "model",
      code: "DeploymentNotFound",
    },
  };
}

export function accessDeniedBody(): AzureErrorBody {
  return {
    error: {
      code: "401",
      message:
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
    },
  };
}

export function missingApiVersionBody(): AzureErrorBody {
  return {
    error: {
      code: "MissingApiVersionParameter",
      message: "The api-version query parameter (?api-version=) is required for all requests.",
    },
  };
}

export function resourceNotFoundBody(): AzureErrorBody {
  return { error: { code: "404", message: "Resource not found" } };
}

export function invalidRequestBody(message: string, param: string | null = null): AzureErrorBody {
  return { error: { message, type: "invalid_request_error", param, code: null } };
}

export function serverErrorBody(status: number): AzureErrorBody {
  return status === 503
    ? { error: { code: "ServiceUnavailable", message: "The service is temporarily unable to process your request. Please try again later." } }
    : { error: { code: "InternalServerError", message: "The server had an error while processing your request. Sorry about that!" } };
}

// Plain OpenAI (provider_type: openai) words the same failures differently.

export function invalidApiKeyBody(): AzureErrorBody {
  return {
    error: { message: "Incorrect API key provided.", type: "invalid_request_error", param: null, code: "invalid_api_key" },
  };
}

export function modelNotFoundBody(model: string): AzureErrorBody {
  return {
    error: {
      message: `The model \`${model}\` does not exist or you do not have access to it.`,
      type: "invalid_request_error",
      param: null,
      code: "model_not_found",
    },
  };
}
